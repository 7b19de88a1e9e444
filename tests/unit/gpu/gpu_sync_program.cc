// gpu_sync_program: a plain CUDA program (links libcudart, no lockaudit library) for the CUPTI
// module's end-to-end tests.
//
// With a CUDA device: holds a std::mutex across cudaStreamSynchronize (the bug lockaudit reports
// as gpu_sync_under_lock), then synchronises again without it. Without one: says so and still
// does its CPU-side locking, so a run under the shim shows the program going on.
// --load-module PATH: first dlopen()s PATH (liblockaudit_cupti.so) and calls its
// InitializeInjection twice, as a process without any lockaudit engine would.
// Prints "cuda devices: N" and "gpu_sync_program: ran on"; exit status 0 unless a CUDA call
// that must work on a device failed.
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

namespace {
std::mutex g_queue_mu;  // named by its symbol in the report
int g_work = 0;
}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--load-module") == 0) {
      void* module = dlopen(argv[i + 1], RTLD_NOW | RTLD_LOCAL);
      if (module == nullptr) {
        std::fprintf(stderr, "gpu_sync_program: dlopen: %s\n", dlerror());
        return 2;
      }
      auto* init = reinterpret_cast<int (*)()>(dlsym(module, "InitializeInjection"));
      if (init == nullptr) return 2;
      std::printf("InitializeInjection: %d then %d\n", init(), init());
    }
  }
  int devices = 0;
  const cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess) devices = 0;
  if (e == cudaSuccess) {
    std::printf("cuda devices: %d\n", devices);
  } else {
    std::printf("cuda devices: 0 (%s)\n", cudaGetErrorString(e));
  }

  if (devices > 0) {
    cudaStream_t stream;
    if (cudaStreamCreate(&stream) != cudaSuccess) return 1;
    {
      std::lock_guard<std::mutex> hold(g_queue_mu);
      if (cudaStreamSynchronize(stream) != cudaSuccess) return 1;  // under the lock: a finding
    }
    if (cudaStreamSynchronize(stream) != cudaSuccess) return 1;  // no lock: none
    cudaStreamDestroy(stream);
  }
  std::thread t([] {
    for (int i = 0; i < 1000; ++i) {
      std::lock_guard<std::mutex> hold(g_queue_mu);
      ++g_work;
    }
  });
  for (int i = 0; i < 1000; ++i) {
    std::lock_guard<std::mutex> hold(g_queue_mu);
    ++g_work;
  }
  t.join();
  std::printf("gpu_sync_program: ran on (%d)\n", g_work);
  return g_work == 2000 ? 0 : 1;
}
