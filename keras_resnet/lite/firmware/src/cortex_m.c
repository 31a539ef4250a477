/* The Cortex-M side of the platform: start-up between the CMSIS startup and newlib, stack and heap
 * accounting, the instruction counter, and a fault handler that reports and exits instead of spinning. Console,
 * inputs and exit are the I/O's: semihosting.c's (QEMU's host, through semihosting calls), uart.c's (the board's
 * UART, inputs in flash) or stdio_files.c's (newlib's stdio, which librdimon takes to the host through
 * semihosting, at a few kilobytes more of flash and a heap).
 *
 * Cortex_DFP's startup runs Reset_Handler -> SystemInit -> __cmsis_start (which copies .data) -> _start.
 * On a hard-float target (-mfloat-abi=hard: cortex-m4+fp, cortex-m7+fp, cortex-m33, cortex-m55) SystemInit
 * also turns the FPU on (CPACR's CP10 and CP11) before any float instruction runs: CMSIS's core header sets
 * __FPU_USED where the device has one (__FPU_PRESENT) and the compiler uses it (__ARM_FP); a soft-float
 * build leaves it off.
 * This _start replaces newlib's rdimon crt0, which asks the debugger for the heap and stack (SYS_HEAPINFO)
 * and moves the stack pointer to QEMU's answer, outside the linker script's stack, so that the first push
 * trips the v8-M stack limit Reset_Handler set. It does what crt0 would: zero .bss (the DFP's zero table
 * leaves that to the C runtime), start librdimon's stdio when it is linked, run constructors, exit with
 * main's result. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "platform.h"

extern uint32_t __bss_start__, __bss_end__, __StackLimit, __StackTop, __HeapLimit;
extern char end; /* the start of the linker script's heap */
extern int main(void);
extern void __libc_init_array(void);
extern void initialise_monitor_handles(void) __attribute__((weak)); /* librdimon's, when linked */

/* What crtbegin and crti would define: the program is linked with -nostartfiles. */
void* __dso_handle = 0;
void _init(void) {}
void _fini(void) {}

#define STACK_PAINT 0x5AC3A55Cu

__attribute__((noreturn, used)) void _start(void) {
  uint32_t sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  /* Paint the stack below this frame, to find after the run how deep it went. */
  for (volatile uint32_t* p = &__StackLimit; p < (volatile uint32_t*)(sp - 64); ++p) *p = STACK_PAINT;
  for (volatile uint32_t* p = &__bss_start__; p < &__bss_end__; ++p) *p = 0;
  if (initialise_monitor_handles) initialise_monitor_handles();
  __libc_init_array();
  exit(main());
}

long platform_stack_used(void) {
  const volatile uint32_t* p = &__StackLimit;
  while (p < &__StackTop && *p == STACK_PAINT) ++p;
  return (long)((const char*)&__StackTop - (const char*)p);
}

long platform_stack_size(void) { return (long)((char*)&__StackTop - (char*)&__StackLimit); }

static char* heap_end = &end;

/* The heap the C library grows (its stdio buffers), bounded by the linker script's heap region: librdimon's
 * own _sbrk checks only against the stack pointer. */
void* _sbrk(ptrdiff_t increment) {
  char* previous = heap_end;
  if (heap_end + increment > (char*)&__HeapLimit) return (void*)-1;
  heap_end += increment;
  return previous;
}

long platform_heap_used(void) { return (long)(heap_end - &end); }
long platform_heap_size(void) { return (long)((char*)&__HeapLimit - &end); }

/* ---- faults: a line on the console and exit code 70, not a silent hang ------------------------------ */

__attribute__((noreturn, used)) void platform_fault(const uint32_t* frame, uint32_t exc_return) {
  static char message[96];
  static const char hex[] = "0123456789abcdef";
  const uint32_t cfsr = *(volatile uint32_t*)0xE000ED28; /* Configurable Fault Status Register */
  const uint32_t values[3] = {cfsr, frame != NULL ? frame[6] : 0, exc_return};
  const char* names[3] = {"FW_FAULT HardFault CFSR=", " PC=", " EXC_RETURN="};
  char* out = message;
  for (int k = 0; k < 3; ++k) {
    for (const char* n = names[k]; *n != '\0'; ++n) *out++ = *n;
    for (int i = 7; i >= 0; --i) *out++ = hex[(values[k] >> (4 * i)) & 15];
  }
  if (cfsr & (1u << 20)) { /* UFSR.STKOF: the v8-M stack limit was hit */
    for (const char* n = " (stack overflow)"; *n != '\0'; ++n) *out++ = *n;
  }
  *out++ = '\n';
  *out = '\0';
  platform_write(message); /* semihosting or the UART directly: not through the C library, which may be what broke */
  platform_exit(70);
}

__attribute__((naked)) void HardFault_Handler(void) {
  __asm__ volatile(
#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__)
      "movs r0, #0\n" /* a stack-limit fault leaves SP at the limit: lift it so the handler can run */
      "msr msplim, r0\n"
#endif
      "mov r1, lr\n"
      "tst r1, #4\n"
      "ite eq\n"
      "mrseq r0, msp\n"
      "mrsne r0, psp\n"
      "sub sp, #64\n"
      "b platform_fault\n");
}

/* ---- instructions: the board's FPGAIO COUNTER under QEMU -icount shift=7 ------------------------------
 * The MPS2/MPS3 FPGA counter is a free-running 32-bit up-counter at the board's reference clock. With
 * `-icount shift=7` QEMU's virtual clock advances 2^7 = 128 ns per executed instruction and the counter
 * follows it (ticks = floor(128 ns * instructions * clock)), so rounding ticks / (128 ns * clock) gives the
 * instructions back exactly, in 64-bit integer arithmetic:
 *   25 MHz (mps2-an386, -an500): 3.2 ticks per instruction, instructions = (ticks * 5 + 8) >> 4
 *   20 MHz (mps2-an505, mps3-an547): 2.56 ticks per instruction, instructions = (ticks * 25 + 32) >> 6
 * The AN505 and AN547 cores start in the Secure state: their counters are read through the Secure alias. */
#if defined(ARMCM4) || defined(ARMCM4_FP) || defined(ARMCM7) || defined(ARMCM7_SP) || defined(ARMCM7_DP)
#define COUNTER_ADDRESS 0x40028018u
#define TICKS_TO_INSTRUCTIONS(t) (((t) * 5u + 8u) >> 4)
#elif defined(ARMCM33) || defined(ARMCM33_DSP_FP) || defined(ARMCM33_DSP_FP_TZ)
#define COUNTER_ADDRESS 0x50302018u
#define TICKS_TO_INSTRUCTIONS(t) (((t) * 25u + 32u) >> 6)
#elif defined(ARMCM55)
#define COUNTER_ADDRESS 0x59302018u
#define TICKS_TO_INSTRUCTIONS(t) (((t) * 25u + 32u) >> 6)
#endif

#ifdef COUNTER_ADDRESS
static uint32_t counter_last;
static uint64_t counter_high; /* the wraps seen, in ticks */
static int counter_beyond;

int64_t platform_instructions(void) {
  const uint32_t raw = *(volatile const uint32_t*)COUNTER_ADDRESS;
  if (raw - counter_last > 0x80000000u) counter_beyond = 1; /* more than half a period since the last call */
  if (raw < counter_last) counter_high += (uint64_t)1 << 32;
  counter_last = raw;
  if (counter_beyond) return PLATFORM_BEYOND_COUNTER;
  const uint64_t ticks = counter_high + raw;
  return (int64_t)TICKS_TO_INSTRUCTIONS(ticks);
}
#else
int64_t platform_instructions(void) { return -1; }
#endif
