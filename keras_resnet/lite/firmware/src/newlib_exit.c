/* The system calls newlib's exit() and abort() end in, for an I/O without newlib's own (semihosting.c, uart.c):
 * they end the program through platform_exit. */
#include "platform.h"

void _exit(int code) { platform_exit(code); }

int _kill(int pid, int signal) {
  (void)pid;
  (void)signal;
  platform_exit(134);
}

int _getpid(void) { return 1; }
