# devenv-probe: the program in the image `devenv verify` runs in the cluster.
#
# Linux x86_64, no libc, raw system calls: the image is FROM scratch with this one file,
# so it can be built and pushed to the local registry with nothing pulled from outside
# (the cluster cannot pull anything from the Internet, and no toolchain is needed on
# the machine that runs devenv: the assembled binary is shipped next to this source).
#
#   devenv-probe serve PORT
#       Listens on 0.0.0.0:PORT and accepts (then closes) connections forever.
#   devenv-probe connect IPV4 PORT ATTEMPTS
#       Tries to open a TCP connection up to ATTEMPTS times (2 s timeout per attempt,
#       1 s pause between attempts). Prints `connected` or `no-connection`, writes the
#       same word to /dev/termination-log (Kubernetes shows it in the pod status as
#       state.terminated.message) and exits 0 either way, so that the Job completes and
#       the result is read from the pod, not guessed from a failure.
#
# Exit codes: 0 done, 2 bad arguments, 3 a system call that should not fail failed.
#
# Rebuild (byte-identical, checked by tests/it/overlays_render.rs when `as` and `ld` exist):
#   as --64 -o probe.o devenv-probe-x86_64.S
#   ld -static -nostdlib -s --build-id=none -z noseparate-code -o devenv-probe-x86_64 probe.o

        .intel_syntax noprefix
        .globl _start

        .set SYS_write, 1
        .set SYS_open, 2
        .set SYS_close, 3
        .set SYS_nanosleep, 35
        .set SYS_socket, 41
        .set SYS_connect, 42
        .set SYS_accept, 43
        .set SYS_bind, 49
        .set SYS_listen, 50
        .set SYS_setsockopt, 54
        .set SYS_exit_group, 231
        .set AF_INET, 2
        .set SOCK_STREAM, 1
        .set SOL_SOCKET, 1
        .set SO_REUSEADDR, 2
        .set SO_SNDTIMEO, 21
        .set O_WRONLY, 1

        .text
_start:
        mov     rbx, rsp                # [rbx] = argc, [rbx+8*(i+1)] = argv[i]
        cmp     qword ptr [rbx], 3
        jb      usage
        mov     rsi, [rbx+16]           # argv[1]: the mode
        cmp     byte ptr [rsi], 's'
        je      serve
        cmp     byte ptr [rsi], 'c'
        je      connect

usage:
        lea     rsi, [rip+msg_usage]
        mov     edx, OFFSET msg_usage_len
        mov     edi, 2
        mov     eax, SYS_write
        syscall
        mov     edi, 2
        jmp     exit

fail:
        lea     rsi, [rip+msg_fail]
        mov     edx, OFFSET msg_fail_len
        mov     edi, 2
        mov     eax, SYS_write
        syscall
        mov     edi, 3
exit:
        mov     eax, SYS_exit_group
        syscall

# ---- serve PORT ---------------------------------------------------------------------
serve:
        mov     rsi, [rbx+24]           # argv[2]
        call    parse_port              # sets the port of `addr`; address stays 0.0.0.0
        mov     edi, AF_INET
        mov     esi, SOCK_STREAM
        xor     edx, edx
        mov     eax, SYS_socket
        syscall
        test    rax, rax
        js      fail
        mov     r12, rax
        mov     rdi, r12                # SO_REUSEADDR: a restarted server binds at once
        mov     esi, SOL_SOCKET
        mov     edx, SO_REUSEADDR
        lea     r10, [rip+one]
        mov     r8d, 4
        mov     eax, SYS_setsockopt
        syscall
        mov     rdi, r12
        lea     rsi, [rip+addr]
        mov     edx, 16
        mov     eax, SYS_bind
        syscall
        test    rax, rax
        js      fail
        mov     rdi, r12
        mov     esi, 64
        mov     eax, SYS_listen
        syscall
        test    rax, rax
        js      fail
        lea     rsi, [rip+msg_listening]
        mov     edx, OFFSET msg_listening_len
        mov     edi, 1
        mov     eax, SYS_write
        syscall
accept_loop:
        mov     rdi, r12
        xor     esi, esi
        xor     edx, edx
        mov     eax, SYS_accept
        syscall
        test    rax, rax
        js      accept_loop
        mov     rdi, rax
        mov     eax, SYS_close
        syscall
        jmp     accept_loop

# ---- connect IPV4 PORT ATTEMPTS -----------------------------------------------------
connect:
        cmp     qword ptr [rbx], 5
        jb      usage
        mov     rsi, [rbx+24]           # argv[2]: dotted quad, into addr+4..addr+7
        lea     rdi, [rip+addr+4]
        mov     r8d, 4
1:      call    parse_uint
        test    ecx, ecx
        jz      usage
        cmp     rax, 255
        ja      usage
        mov     byte ptr [rdi], al
        inc     rdi
        dec     r8d
        jz      2f
        cmp     byte ptr [rsi], '.'
        jne     usage
        inc     rsi
        jmp     1b
2:      cmp     byte ptr [rsi], 0
        jne     usage
        mov     rsi, [rbx+32]           # argv[3]: port
        call    parse_port
        mov     rsi, [rbx+40]           # argv[4]: attempts, at least 1
        call    parse_uint
        test    ecx, ecx
        jz      usage
        cmp     byte ptr [rsi], 0
        jne     usage
        test    rax, rax
        jz      usage
        mov     r13, rax
attempt:
        mov     edi, AF_INET
        mov     esi, SOCK_STREAM
        xor     edx, edx
        mov     eax, SYS_socket
        syscall
        test    rax, rax
        js      fail
        mov     r12, rax
        mov     rdi, r12                # connect() gives up after SO_SNDTIMEO (socket(7))
        mov     esi, SOL_SOCKET
        mov     edx, SO_SNDTIMEO
        lea     r10, [rip+attempt_timeout]
        mov     r8d, 16
        mov     eax, SYS_setsockopt
        syscall
        mov     rdi, r12
        lea     rsi, [rip+addr]
        mov     edx, 16
        mov     eax, SYS_connect
        syscall
        test    rax, rax
        jz      connected
        mov     rdi, r12
        mov     eax, SYS_close
        syscall
        dec     r13
        jz      not_connected
        lea     rdi, [rip+pause]
        xor     esi, esi
        mov     eax, SYS_nanosleep
        syscall
        jmp     attempt

connected:
        lea     r14, [rip+msg_connected]
        mov     r15d, OFFSET msg_connected_len
        jmp     report
not_connected:
        lea     r14, [rip+msg_no_connection]
        mov     r15d, OFFSET msg_no_connection_len
report:
        mov     edi, 1
        mov     rsi, r14
        mov     rdx, r15
        mov     eax, SYS_write
        syscall
        lea     rdi, [rip+termination_log]
        mov     esi, O_WRONLY
        xor     edx, edx
        mov     eax, SYS_open
        syscall
        test    rax, rax                # outside Kubernetes the file may not exist
        js      done
        mov     rdi, rax
        mov     rsi, r14
        mov     rdx, r15
        mov     eax, SYS_write
        syscall
done:
        xor     edi, edi
        jmp     exit

# ---- helpers --------------------------------------------------------------------------
# parse_uint: rsi -> digits. Returns rax = value, rcx = number of digits, rsi -> the
# first byte that is not a digit. At most 9 digits count (no overflow).
parse_uint:
        xor     eax, eax
        xor     ecx, ecx
1:      movzx   edx, byte ptr [rsi]
        sub     edx, '0'
        cmp     edx, 9
        ja      2f
        cmp     ecx, 9
        jae     usage
        imul    rax, rax, 10
        add     rax, rdx
        inc     rsi
        inc     ecx
        jmp     1b
2:      ret

# parse_port: rsi -> "1".."65535", NUL-terminated; stores it big-endian in addr+2.
parse_port:
        call    parse_uint
        test    ecx, ecx
        jz      usage
        cmp     byte ptr [rsi], 0
        jne     usage
        test    rax, rax
        jz      usage
        cmp     rax, 65535
        ja      usage
        rol     ax, 8
        mov     word ptr [rip+addr+2], ax
        ret

        .data
        .balign 8
addr:                                   # struct sockaddr_in
        .word   AF_INET                 # sin_family
        .word   0                       # sin_port (big-endian)
        .long   0                       # sin_addr
        .quad   0                       # padding
attempt_timeout:                        # struct timeval: 2 s
        .quad   2, 0
pause:                                  # struct timespec: 1 s
        .quad   1, 0
one:
        .long   1
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
