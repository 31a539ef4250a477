/* The port: what main.cc needs from the board it runs on. To run it on a board of your own, implement
 *   - text out (platform_write): a UART, USB serial, a display;
 *   - the inputs in (platform_open/read/close): a camera or sensor, or inputs compiled into flash;
 *   - the end (platform_exit);
 * and, optionally, the accounting (stack, heap: -1 where not measured) and an instruction or cycle counter
 * (platform_instructions: -1 where there is none, e.g. read DWT->CYCCNT on silicon that has it).
 *
 * Worked examples: cortex_m.c (start-up, stack and heap accounting, QEMU's instruction counter, faults) with one
 * I/O: semihosting.c (QEMU's host, through semihosting calls), uart.c (the board's UART, inputs in flash: what a
 * board without a debugger does) or stdio_files.c (newlib's stdio); host.c and stdio_files.c for a workstation.
 * docs/porting.md walks through a port. */
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
/* End the program with `code` (0: ran; main.cc's codes otherwise): QEMU exits with it under semihosting; a board
 * with nothing to exit to says `FW_EXIT <code>` and waits. */
__attribute__((noreturn)) void platform_exit(int code);
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
