/* What main.cc needs from the board it runs on: text out, the test images in, stack and heap accounting.
 *
 * semihosting.c implements it for the Cortex-M boards QEMU emulates (the host's files and console through
 * semihosting), host.c with the C library for a workstation build. On a board of your own, implement these
 * with your UART and camera (or leave the accounting at -1). */
#ifndef RESNET_TFLITE_PLATFORM_H_
#define RESNET_TFLITE_PLATFORM_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void platform_write(const char* text);                /* one line or part of one, as is */
int platform_open(const char* path);                  /* a file of input tensors; -1 if it cannot be opened */
int platform_read(int handle, void* buffer, int bytes); /* bytes read: `bytes` for a whole tensor */
void platform_close(int handle);
long platform_stack_used(void); /* deepest the stack went, bytes; -1 when not measured */
long platform_stack_size(void);
long platform_heap_used(void);  /* bytes the C library took from the heap; -1 when not measured */
long platform_heap_size(void);

/* Instructions executed since start-up, or -1 when the platform cannot count them (the host), or
 * PLATFORM_BEYOND_COUNTER once two calls came more than half the counter's period apart (it may have wrapped
 * unseen: no count after that is trusted). The Cortex-M port reads the board's free-running FPGAIO COUNTER,
 * which QEMU run with `-icount shift=7` advances by exactly 128 ns per instruction, extends it to 64 bits and
 * converts ticks to instructions exactly. Call it at least every ~6e8 instructions. */
#define PLATFORM_BEYOND_COUNTER (-2)
int64_t platform_instructions(void);

#ifdef __cplusplus
}
#endif

#endif  // RESNET_TFLITE_PLATFORM_H_
