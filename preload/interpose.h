// The attribute of every function the shim defines for the dynamic linker to bind the program's
// calls to (exported by exports.map; C linkage, default visibility).
#ifndef LOCKAUDIT_PRELOAD_INTERPOSE_H_
#define LOCKAUDIT_PRELOAD_INTERPOSE_H_

#define LOCKAUDIT_INTERPOSE extern "C" __attribute__((visibility("default")))

#endif  // LOCKAUDIT_PRELOAD_INTERPOSE_H_
