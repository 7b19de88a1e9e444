// lockaudit/cli/cycles: every elementary cycle of a small directed graph (Johnson's algorithm),
// for `lockaudit merge`.
//
// Nodes are 0..n-1; successors[v] lists the targets of v's edges, without duplicates. Each cycle is
// reported once, as its node sequence starting at its smallest node; the edge from the last node
// back to the first is implied. A self-loop is a cycle of one node.
// Cost: O((n + e) * (n + c)) for n nodes, e edges and c cycles; the search stops once
// `max_cycles` were found.
#ifndef LOCKAUDIT_CLI_CYCLES_H_
#define LOCKAUDIT_CLI_CYCLES_H_

#include <cstddef>
#include <vector>

namespace lockaudit::cli {

using Cycle = std::vector<size_t>;

std::vector<Cycle> FindElementaryCycles(const std::vector<std::vector<size_t>>& successors,
                                        size_t max_cycles);

}  // namespace lockaudit::cli

#endif  // LOCKAUDIT_CLI_CYCLES_H_
