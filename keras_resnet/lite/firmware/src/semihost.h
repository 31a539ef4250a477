/* Arm semihosting: the calls a program makes to the debugger (here QEMU) for its host's console and files.
 * cortex_m.c implements them; semihosting.c builds platform.h's files and console on them. */
#ifndef RESNET_TFLITE_SEMIHOST_H_
#define RESNET_TFLITE_SEMIHOST_H_

enum { SYS_OPEN = 0x01, SYS_CLOSE = 0x02, SYS_WRITE0 = 0x04, SYS_WRITE = 0x05, SYS_READ = 0x06,
       SYS_EXIT_EXTENDED = 0x20 };

int semihost(int operation, void* argument);
/* Stop the program with `code`: QEMU exits with it (SYS_EXIT_EXTENDED). */
__attribute__((noreturn)) void semihost_exit(int code);

#endif  // RESNET_TFLITE_SEMIHOST_H_
