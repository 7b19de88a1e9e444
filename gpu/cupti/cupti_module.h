// gpu/cupti/cupti_module.h: the C entry points of liblockaudit_cupti.so besides the engine's.
//
// InitializeInjection is the CUDA injection entry point (CUDA_INJECTION64_PATH); the shim calls
// it too when LOCKAUDIT_CUDA=1. The lockaudit_cupti_* functions let the hybrid dispatcher's CUDA
// backend time its kernels from CUPTI activity records; it finds them with
// dlopen("liblockaudit_cupti.so", RTLD_NOLOAD) + dlsym, so it works without the module too.
//
// Thread-safety: all callable from any thread.
#ifndef LOCKAUDIT_GPU_CUPTI_MODULE_H_
#define LOCKAUDIT_GPU_CUPTI_MODULE_H_

#define LOCKAUDIT_CUPTI_API __attribute__((visibility("default")))

#ifdef __cplusplus
extern "C" {
#endif

// Starts tracing once per process (later calls return the first call's result). Returns 1 when
// CUDA calls are traced, 0 after its one warning (no engine, CUPTI busy, no driver or GPU).
LOCKAUDIT_CUPTI_API int InitializeInjection(void);
// 1 while CUDA calls are traced.
LOCKAUDIT_CUPTI_API int lockaudit_cupti_tracing(void);
// The correlation ids of the calling thread's last kernel launch through the runtime and of its
// last direct driver launch (0: none). A kernel's activity record carries the id of the call
// that launched it.
LOCKAUDIT_CUPTI_API void lockaudit_cupti_last_launch(unsigned* runtime_correlation,
                                                     unsigned* driver_correlation);
// The device duration of the kernel launched by `correlation_id`, from its activity record;
// flushes CUPTI's buffers when the record is not in yet (call after the kernel completed).
// Returns 1 and sets *duration_ns when found, else 0.
LOCKAUDIT_CUPTI_API int lockaudit_cupti_kernel_ns(unsigned correlation_id,
                                                  unsigned long long* duration_ns);

#ifdef __cplusplus
}
#endif

#endif  // LOCKAUDIT_GPU_CUPTI_MODULE_H_
