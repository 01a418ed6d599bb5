// devenv-probe for linux/arm64 nodes (Apple Silicon with Docker Desktop, OrbStack or
// Colima; ARM CI runners): the same program as devenv-probe-x86_64.S, same arguments,
// same output, same exit codes, written for AArch64.
//
// Linux aarch64, no libc, raw system calls (the generic table of
// include/uapi/asm-generic/unistd.h: no open(2), so openat(AT_FDCWD, ...)).
//
//   devenv-probe serve PORT
//       Listens on 0.0.0.0:PORT and accepts (then closes) connections forever.
//   devenv-probe connect IPV4 PORT ATTEMPTS
//       Tries to open a TCP connection up to ATTEMPTS times (2 s timeout per attempt,
//       1 s pause between attempts). Prints `connected` or `no-connection`, writes the
//       same word to /dev/termination-log and exits 0 either way.
//
// Exit codes: 0 done, 2 bad arguments, 3 a system call that should not fail failed.
//
// Rebuild (byte-identical; probe/build.sh does both architectures, and
// tests/it/overlays_render.rs checks the shipped binary when the assembler is installed):
//   aarch64-linux-gnu-as -o probe.o devenv-probe-aarch64.S
//   aarch64-linux-gnu-ld -static -nostdlib -s --build-id=none -z noseparate-code \
//       -o devenv-probe-aarch64 probe.o
// Run it here with qemu-user: qemu-aarch64 ./devenv-probe-aarch64 serve 8080

        .set SYS_openat, 56
        .set SYS_close, 57
        .set SYS_write, 64
        .set SYS_exit_group, 94
        .set SYS_nanosleep, 101
        .set SYS_socket, 198
        .set SYS_bind, 200
        .set SYS_listen, 201
        .set SYS_accept, 202
        .set SYS_connect, 203
        .set SYS_setsockopt, 208
        .set AT_FDCWD, -100
        .set AF_INET, 2
        .set SOCK_STREAM, 1
        .set SOL_SOCKET, 1
        .set SO_REUSEADDR, 2
        .set SO_SNDTIMEO, 21
        .set O_WRONLY, 1

// The data comes first so that the message lengths are known where they are used.
        .data
        .balign 8
addr:                                   // struct sockaddr_in
        .hword  AF_INET                 // sin_family
        .hword  0                       // sin_port (big-endian)
        .word   0                       // sin_addr
        .quad   0                       // padding
attempt_timeout:                        // struct timeval: 2 s
        .quad   2, 0
pause:                                  // struct timespec: 1 s
        .quad   1, 0
one:
        .word   1
termination_log:
        .asciz  "/dev/termination-log"
msg_usage:
        .ascii  "usage: devenv-probe serve PORT | devenv-probe connect IPV4 PORT ATTEMPTS\n"
        .set    msg_usage_len, . - msg_usage
msg_fail:
        .ascii  "devenv-probe: a system call failed\n"
        .set    msg_fail_len, . - msg_fail
msg_listening:
        .ascii  "listening\n"
        .set    msg_listening_len, . - msg_listening
msg_connected:
        .ascii  "connected\n"
        .set    msg_connected_len, . - msg_connected
msg_no_connection:
        .ascii  "no-connection\n"
        .set    msg_no_connection_len, . - msg_no_connection

// LOAD reg, symbol: the address of a symbol in .data (pc-relative, any distance).
        .macro  LOAD reg, sym
        adrp    \reg, \sym
        add     \reg, \reg, :lo12:\sym
        .endm

        .text
        .globl _start
_start:
        mov     x19, sp                 // [x19] = argc, [x19+8*(i+1)] = argv[i]
        ldr     x0, [x19]
        cmp     x0, #3
        b.lo    usage
        ldr     x1, [x19, #16]          // argv[1]: the mode
        ldrb    w2, [x1]
        cmp     w2, #'s'
        b.eq    serve
        cmp     w2, #'c'
        b.eq    connect

usage:
        LOAD    x1, msg_usage
        mov     x2, #msg_usage_len
        mov     x0, #2
        mov     x8, #SYS_write
        svc     #0
        mov     x0, #2
        b       exit

fail:
        LOAD    x1, msg_fail
        mov     x2, #msg_fail_len
        mov     x0, #2
        mov     x8, #SYS_write
        svc     #0
        mov     x0, #3
exit:
        mov     x8, #SYS_exit_group
        svc     #0

// ---- serve PORT ---------------------------------------------------------------------
serve:
        ldr     x1, [x19, #24]          // argv[2]
        bl      parse_port              // sets the port of `addr`; address stays 0.0.0.0
        mov     x0, #AF_INET
        mov     x1, #SOCK_STREAM
        mov     x2, #0
        mov     x8, #SYS_socket
        svc     #0
        cmp     x0, #0
        b.lt    fail
        mov     x20, x0
        mov     x1, #SOL_SOCKET         // SO_REUSEADDR: a restarted server binds at once
        mov     x2, #SO_REUSEADDR
        LOAD    x3, one
        mov     x4, #4
        mov     x8, #SYS_setsockopt
        svc     #0
        mov     x0, x20
        LOAD    x1, addr
        mov     x2, #16
        mov     x8, #SYS_bind
        svc     #0
        cmp     x0, #0
        b.lt    fail
        mov     x0, x20
        mov     x1, #64
        mov     x8, #SYS_listen
        svc     #0
        cmp     x0, #0
        b.lt    fail
        mov     x0, #1
        LOAD    x1, msg_listening
        mov     x2, #msg_listening_len
        mov     x8, #SYS_write
        svc     #0
accept_loop:
        mov     x0, x20
        mov     x1, #0
        mov     x2, #0
        mov     x8, #SYS_accept
        svc     #0
        cmp     x0, #0
        b.lt    accept_loop
        mov     x8, #SYS_close
        svc     #0
        b       accept_loop

// ---- connect IPV4 PORT ATTEMPTS -----------------------------------------------------
connect:
        ldr     x0, [x19]
        cmp     x0, #5
        b.lo    usage
        ldr     x1, [x19, #24]          // argv[2]: dotted quad, into addr+4..addr+7
        LOAD    x22, addr
        add     x22, x22, #4
        mov     x23, #4
1:      bl      parse_uint
        cbz     x3, usage
        cmp     x0, #255
        b.hi    usage
        strb    w0, [x22], #1
        subs    x23, x23, #1
        b.eq    2f
        ldrb    w4, [x1]
        cmp     w4, #'.'
        b.ne    usage
        add     x1, x1, #1
        b       1b
2:      ldrb    w4, [x1]
        cbnz    w4, usage
        ldr     x1, [x19, #32]          // argv[3]: port
        bl      parse_port
        ldr     x1, [x19, #40]          // argv[4]: attempts, at least 1
        bl      parse_uint
        cbz     x3, usage
        ldrb    w4, [x1]
        cbnz    w4, usage
        cbz     x0, usage
        mov     x24, x0
attempt:
        mov     x0, #AF_INET
        mov     x1, #SOCK_STREAM
        mov     x2, #0
        mov     x8, #SYS_socket
        svc     #0
        cmp     x0, #0
        b.lt    fail
        mov     x20, x0
        mov     x1, #SOL_SOCKET         // connect() gives up after SO_SNDTIMEO (socket(7))
        mov     x2, #SO_SNDTIMEO
        LOAD    x3, attempt_timeout
        mov     x4, #16
        mov     x8, #SYS_setsockopt
        svc     #0
        mov     x0, x20
        LOAD    x1, addr
        mov     x2, #16
        mov     x8, #SYS_connect
        svc     #0
        cbz     x0, connected
        mov     x0, x20
        mov     x8, #SYS_close
        svc     #0
        subs    x24, x24, #1
        b.eq    not_connected
        LOAD    x0, pause
        mov     x1, #0
        mov     x8, #SYS_nanosleep
        svc     #0
        b       attempt

connected:
        LOAD    x25, msg_connected
        mov     x26, #msg_connected_len
        b       report
not_connected:
        LOAD    x25, msg_no_connection
        mov     x26, #msg_no_connection_len
report:
        mov     x0, #1
        mov     x1, x25
        mov     x2, x26
        mov     x8, #SYS_write
        svc     #0
        mov     x0, #AT_FDCWD
        LOAD    x1, termination_log
        mov     x2, #O_WRONLY
        mov     x3, #0
        mov     x8, #SYS_openat
        svc     #0
        cmp     x0, #0                  // outside Kubernetes the file may not exist
        b.lt    done
        mov     x1, x25
        mov     x2, x26
        mov     x8, #SYS_write
        svc     #0
done:
        mov     x0, #0
        b       exit

// ---- helpers --------------------------------------------------------------------------
// parse_uint: x1 -> digits. Returns x0 = value, x3 = number of digits, x1 -> the first
// byte that is not a digit. At most 9 digits count (no overflow). Uses x4, x5.
parse_uint:
        mov     x0, #0
        mov     x3, #0
        mov     x5, #10
1:      ldrb    w4, [x1]
        sub     w4, w4, #'0'
        cmp     w4, #9
        b.hi    2f
        cmp     x3, #9
        b.hs    usage
        madd    x0, x0, x5, x4
        add     x1, x1, #1
        add     x3, x3, #1
        b       1b
2:      ret

// parse_port: x1 -> "1".."65535", NUL-terminated; stores it big-endian in addr+2.
parse_port:
        mov     x21, x30                // a nested call: keep the return address
        bl      parse_uint
        mov     x30, x21
        cbz     x3, usage
        ldrb    w4, [x1]
        cbnz    w4, usage
        cbz     x0, usage
        mov     x5, #65535
        cmp     x0, x5
        b.hi    usage
        rev16   w0, w0
        LOAD    x6, addr
        strh    w0, [x6, #2]
        ret
