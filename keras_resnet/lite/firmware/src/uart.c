/* platform.h's text out, inputs in and exit as on a board without a debugger: text to the board's UART (a serial
 * console), the test inputs from flash (images.c: a board has no host file system), and at the end a last line
 * `FW_EXIT <code>`, after which it waits (there is nothing to exit to; run.sh stops QEMU on that line).
 *
 * The UART is the CMSDK APB UART of Arm's MPS2 and MPS3 boards, UART0 at the address each board maps it (the
 * AN505's and AN547's cores start in the Secure state: their Secure aliases). On a board of your own, replace
 * uart_put with your UART's transmit and platform_read with your camera or sensor. */
#include <stdint.h>
#include <string.h>

#include "platform.h"

#if defined(ARMCM4) || defined(ARMCM7)
#define UART_BASE 0x40004000u /* mps2-an386, mps2-an500 */
#elif defined(ARMCM33)
#define UART_BASE 0x50200000u /* mps2-an505, Secure alias */
#elif defined(ARMCM55)
#define UART_BASE 0x59303000u /* mps3-an547, Secure alias */
#else
#error "uart.c knows the UART of the MPS2/MPS3 boards' cores (ARMCM4, ARMCM7, ARMCM33, ARMCM55) only"
#endif

#ifndef UART_BAUD_DIVISOR
#define UART_BAUD_DIVISOR 217u /* 25 MHz / 115200 baud; QEMU only needs at least 16 */
#endif

typedef struct {
  volatile uint32_t data;
  volatile uint32_t state; /* bit 0: the transmit buffer is full */
  volatile uint32_t ctrl;  /* bit 0: transmit enabled */
  volatile uint32_t intstatus;
  volatile uint32_t bauddiv;
} CmsdkUart;

#define UART ((CmsdkUart*)UART_BASE)

extern const uint8_t platform_inputs[]; /* images.c */
extern const uint32_t platform_inputs_bytes;

static void uart_put(char c) {
  if ((UART->ctrl & 1u) == 0) {
    UART->bauddiv = UART_BAUD_DIVISOR;
    UART->ctrl = 1u;
  }
  while (UART->state & 1u) {
  }
  UART->data = (uint32_t)(uint8_t)c;
}

void platform_write(const char* text) {
  for (; *text != '\0'; ++text) uart_put(*text);
}

static uint32_t offset;

int platform_open(const char* path) {
  (void)path;
  offset = 0;
  return 0;
}

int platform_read(int handle, void* buffer, int bytes) {
  (void)handle;
  const uint32_t left = platform_inputs_bytes - offset;
  const uint32_t count = (uint32_t)bytes < left ? (uint32_t)bytes : left;
  memcpy(buffer, platform_inputs + offset, count);
  offset += count;
  return (int)count;
}

void platform_close(int handle) { (void)handle; }

void platform_exit(int code) {
  char line[24] = "FW_EXIT ";
  char* out = line + 8;
  unsigned value = (unsigned)(code < 0 ? -code : code);
  char digits[10];
  int count = 0;
  do {
    digits[count++] = (char)('0' + value % 10);
    value /= 10;
  } while (value != 0);
  if (code < 0) *out++ = '-';
  while (count > 0) *out++ = digits[--count];
  *out++ = '\n';
  *out = '\0';
  platform_write(line);
  for (;;) {
    __asm__ volatile("wfi");
  }
}
