; A worker sandbox written the way container runtimes and browsers write theirs:
; refuse foreign architectures and x32, allow a short list of calls, check the
; arguments of the risky ones, kill on execve/ptrace, and fail everything else
; with EPERM.
arch x86_64

        ld [arch]
        jeq #AUDIT_ARCH_X86_64, check_x32, kill
check_x32:
        ld [nr]
        jge #0x40000000, kill, dispatch
dispatch:
        jeq #read, allow
        jeq #write, allow
        jeq #close, allow
        jeq #fstat, allow
        jeq #futex, allow
        jeq #rt_sigreturn, allow
        jeq #exit_group, allow
        jeq #openat, openat
        jeq #mmap, mmap
        jeq #socket, socket
        jeq #ioctl, ioctl
        jeq #execve, kill
        jeq #ptrace, kill
        ret ERRNO(EPERM)

openat:                         ; read-only opens: (flags & O_ACCMODE) == O_RDONLY
        ld [args[2].lo]
        jset #3, eacces, allow
mmap:                           ; no executable mappings: prot & PROT_EXEC
        ld [args[2].lo]
        jset #4, eacces, allow
socket:                         ; AF_UNIX only, and the 64-bit domain must be 1
        ld [args[0].hi]
        jeq #0, 0, eafnosupport
        ld [args[0].lo]
        jeq #1, allow, eafnosupport
ioctl:                          ; only TCGETS on the terminal
        ld [args[1].lo]
        jeq #0x5401, allow, enotty

allow:
        ret ALLOW
eacces:
        ret ERRNO(EACCES)
eafnosupport:
        ret ERRNO(EAFNOSUPPORT)
enotty:
        ret ERRNO(ENOTTY)
kill:
        ret KILL_PROCESS
