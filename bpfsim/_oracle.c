/* bpfsim kernel oracle helper: installs seccomp filter stacks in throwaway threads and reports
 * what each call observed.  Driven by bpfsim/kernel.py over stdin/stdout (binary protocol
 * described there, little-endian on every arch); compiled on first use for the local x86_64
 * kernel, and statically for x86_64, aarch64 and s390x as the /init of a lab guest
 * (lab/lab.py), where it serves the same requests over the console (see lab_init below).
 *
 * Process layout: this server forks one *subject* process at a time.  The subject's main thread
 * (T1) never gets a filter: it only spawns a calling thread (T2) on request and waits for it to
 * die.  T2 installs the stack (under PTRACE_O_SUSPEND_SECCOMP when we are allowed to), makes the
 * calls and reports through memory shared with this server; it makes no syscall between calls.
 * Both threads are ptraced by the server, which sees TRACE events, SIGSYS (TRAP) and deaths.
 * A KILL_THREAD kills only T2: T1 survives and can start the next T2, so a subject serves many
 * requests; a KILL_PROCESS (or unknown action) kills the subject and a new one is forked.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/klog.h>
#include <sys/uio.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifndef PTRACE_O_SUSPEND_SECCOMP
#define PTRACE_O_SUSPEND_SECCOMP (1 << 21)
#endif
#ifndef PTRACE_EVENT_SECCOMP
#define PTRACE_EVENT_SECCOMP 7
#endif
_Static_assert(sizeof(struct sock_filter) == 8, "sock_filter");
#define OPT_EXITKILL 0x100000
#define OPT_TRACECLONE 0x8
#define OPT_TRACESECCOMP 0x80

#define OP_HELLO 0
#define OP_RUN 1
#define OP_EACH 2
#define OP_DUMP 3
#define OP_QUIT 4
#define OP_NOTIF_IOCTLS 6
#define OP_EXEC 7
#define OP_SHARED_MM_KILL 8
#define OP_STRICT 9

#define ST_OK 0
#define ST_TIMEOUT 1
#define ST_ERROR 2
#define ST_TOOBIG 3
#define ST_OUT_OF_REACH 4 /* a scene's listener the server cannot get a copy of */

#define MAX_FILTERS 8192
#define MAX_CALLS 16384
#define INSN_AREA (24u << 20)

#define PHASE_INSTALLING 1
#define PHASE_INSTALLED 2
#define PHASE_DONE 3

#define MODE_STACK 0
#define MODE_EACH 1

#define CMD_SPAWN 1
#define CMD_EXIT 2

#define FATE_RETURNED 0
#define FATE_THREAD_KILLED 1
#define FATE_PROCESS_KILLED 2
#define FATE_NOT_RUN 3

#define RF_EVENT 1
#define RF_TRAP 2
#define RF_NOTIF 4
#define RF_SD 8
#define RF_CORE 16

struct call {
	uint32_t kind; /* 0: syscall instruction, 1: int $0x80 */
	int32_t nr;
	uint64_t args[6];
};

struct result {
	volatile uint32_t state; /* T2: 1 before the call, 2 after it returned */
	uint32_t fate;
	uint32_t flags;
	int32_t sig;
	int32_t pid, tid;
	volatile int64_t ret;
	uint64_t msg;
	int32_t r_signo, r_code, r_errno, r_syscall;
	uint32_t r_arch, pad;
	uint64_t r_call_addr;
	uint8_t sd[64];
};

struct shm {
	volatile uint32_t cmd, mode, nfilters, first_filter, ncalls, first_call;
	volatile uint32_t phase, cur, installing, installed_upto, share;
	volatile int32_t listener_fd;
	struct sock_fprog fprogs[MAX_FILTERS];
	uint32_t fflags[MAX_FILTERS];
	volatile int64_t fret[MAX_FILTERS];
	struct call calls[MAX_CALLS];
	struct result res[MAX_CALLS];
	struct sock_filter insns[INSN_AREA / sizeof(struct sock_filter)];
};

struct ptrace_sc_info {
	uint8_t op, reserved;
	uint16_t flags;
	uint32_t arch;
	uint64_t instruction_pointer, stack_pointer;
	uint64_t nr, args[6];
	uint32_t ret_data, reserved2;
};

static struct shm *S;

#ifndef BPFSIM_SOURCE_HASH
#define BPFSIM_SOURCE_HASH "unknown"
#endif
/* kernel.py executes a cached helper only if it holds this mark with the hash of this source. */
__attribute__((used)) static const char source_mark[] = "bpfsim-oracle-source-" BPFSIM_SOURCE_HASH;

/* ---------------------------------------------------------------- the calling thread (T2) */
/* Nothing below may call libc: T2 shares T1's TLS and every syscall it makes is filtered. */

#if defined(__x86_64__)
#define NATIVE_AUDIT_ARCH 0xc000003eu /* AUDIT_ARCH_X86_64 */

static inline long raw3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return ret;
}

/* One call site for every subject and every scene step, so instruction_pointer is the same in
 * each (non-PIE); after_native_call is the address after its system call instruction. */
static __attribute__((noinline, noclone)) long native_call(long nr, const uint64_t *a)
{
	long ret;
	register long r10 __asm__("r10") = (long)a[3];
	register long r8 __asm__("r8") = (long)a[4];
	register long r9 __asm__("r9") = (long)a[5];
	__asm__ volatile("syscall\n\t.globl after_native_call\nafter_native_call:"
			 : "=a"(ret)
			 : "a"(nr), "D"(a[0]), "S"(a[1]), "d"(a[2]), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/* int $0x80 from a 64-bit task: the filter sees AUDIT_ARCH_I386 and the full 64-bit registers. */
static __attribute__((noinline)) long compat_call(long nr, const uint64_t *a)
{
	long ret;
	register long r12 __asm__("r12") = (long)a[5];
	__asm__ volatile("push %%rbp\n\tmov %%r12, %%rbp\n\tint $0x80\n\tpop %%rbp"
			 : "=a"(ret)
			 : "a"(nr), "b"(a[0]), "c"(a[1]), "d"(a[2]), "S"(a[3]), "D"(a[4]), "r"(r12)
			 : "r8", "r9", "r10", "r11", "memory");
	return ret;
}

static inline void breakpoint(void) { __asm__ volatile("int3" ::: "memory"); }

/* int3 traps after itself: nothing to step over. */
static void step_over_breakpoint(pid_t tid) { (void)tid; }

/* At a seccomp stop, make the call a skipped one (nr -1, -ENOSYS): arch/x86 orig_ax. */
static int skip_call(pid_t tid)
{
	return (int)ptrace(PTRACE_POKEUSER, tid, offsetof(struct user_regs_struct, orig_rax), -1L);
}

#elif defined(__aarch64__)
#include <elf.h>
#define NATIVE_AUDIT_ARCH 0xc00000b7u /* AUDIT_ARCH_AARCH64 */
#ifndef NT_ARM_SYSTEM_CALL
#define NT_ARM_SYSTEM_CALL 0x404
#endif

static inline long raw3(long nr, long a, long b, long c)
{
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	return x0;
}

static __attribute__((noinline, noclone)) long native_call(long nr, const uint64_t *a)
{
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = (long)a[0];
	register long x1 __asm__("x1") = (long)a[1];
	register long x2 __asm__("x2") = (long)a[2];
	register long x3 __asm__("x3") = (long)a[3];
	register long x4 __asm__("x4") = (long)a[4];
	register long x5 __asm__("x5") = (long)a[5];
	__asm__ volatile("svc #0\n\t.globl after_native_call\nafter_native_call:"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory");
	return x0;
}

static long compat_call(long nr, const uint64_t *a) { return native_call(nr, a); }

static inline void breakpoint(void) { __asm__ volatile("brk #0x1" ::: "memory"); }

/* arch/arm64 brk_handler reports the brk's own address: step the tracee past it. */
static void step_over_breakpoint(pid_t tid)
{
	struct user_regs_struct regs;
	struct iovec io = {&regs, sizeof regs};
	if (ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, &io) == 0) {
		regs.pc += 4;
		ptrace(PTRACE_SETREGSET, tid, NT_PRSTATUS, &io);
	}
}

/* At a seccomp stop, make the call a skipped one (arch/arm64 ptrace.c system_call_set). A
 * skipped call returns whatever x0 holds (its first argument), so also set x0 to -ENOSYS, the
 * result the oracle reports for a skipped call on every arch. */
static int skip_call(pid_t tid)
{
	int nr = -1;
	struct iovec io = {&nr, sizeof nr};
	struct user_regs_struct regs;
	struct iovec rio = {&regs, sizeof regs};
	if (ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, &rio) != 0)
		return -1;
	regs.regs[0] = (unsigned long long)-ENOSYS;
	if (ptrace(PTRACE_SETREGSET, tid, NT_PRSTATUS, &rio) != 0)
		return -1;
	return (int)ptrace(PTRACE_SETREGSET, tid, NT_ARM_SYSTEM_CALL, &io);
}

#elif defined(__s390x__)
#define NATIVE_AUDIT_ARCH 0x80000016u /* AUDIT_ARCH_S390X */

/* svc 0 takes the number from r1 (arch/s390/kernel/syscall.c: only its low 16 bits). */
static inline long raw3(long nr, long a, long b, long c)
{
	register long r1 __asm__("1") = nr;
	register long r2 __asm__("2") = a;
	register long r3 __asm__("3") = b;
	register long r4 __asm__("4") = c;
	__asm__ volatile("svc 0" : "+d"(r2) : "d"(r1), "d"(r3), "d"(r4) : "memory");
	return r2;
}

static __attribute__((noinline, noclone)) long native_call(long nr, const uint64_t *a)
{
	register long r1 __asm__("1") = nr;
	register long r2 __asm__("2") = (long)a[0];
	register long r3 __asm__("3") = (long)a[1];
	register long r4 __asm__("4") = (long)a[2];
	register long r5 __asm__("5") = (long)a[3];
	register long r6 __asm__("6") = (long)a[4];
	register long r7 __asm__("7") = (long)a[5];
	__asm__ volatile("svc 0\n\t.globl after_native_call\nafter_native_call:"
			 : "+d"(r2)
			 : "d"(r1), "d"(r3), "d"(r4), "d"(r5), "d"(r6), "d"(r7)
			 : "memory");
	return r2;
}

static long compat_call(long nr, const uint64_t *a) { return native_call(nr, a); }

/* 0x0001 is the ptrace breakpoint: SIGTRAP with the PSW already past it (traps.c illegal_op). */
static inline void breakpoint(void) { __asm__ volatile(".word 0x0001" ::: "memory"); }

static void step_over_breakpoint(pid_t tid) { (void)tid; }

/* At a seccomp stop, writing gpr 2 sets the number (arch/s390/kernel/ptrace.c __poke_user). */
static int skip_call(pid_t tid)
{
	return (int)ptrace(PTRACE_POKEUSER, tid, offsetof(struct user, regs.gprs[2]), -1L);
}

#else
#error "the oracle helper knows x86_64, aarch64 and s390x"
#endif

static void t2_body(void)
{
	struct shm *s = S;
	uint32_t i;
	int failed = 0;

	s->phase = PHASE_INSTALLING;
	if (s->mode == MODE_EACH) {
		/* kernel/seccomp.c seccomp_attach_filter: an accepted filter changes the next verdict
		 * only through the path budget (len + 4 each, 32768 in all) or a second listener; the
		 * converted length is at most 3 + 5 per instruction (DIV X), so stop sharing before
		 * the budget could matter. */
		uint32_t used = 0;
		for (i = s->first_filter; i < s->nfilters; i++) {
			uint32_t need = 3 + 5u * s->fprogs[i].len + 4;
			if (used && (!s->share || used + need > 32768))
				break;
			s->installing = i;
			long r = raw3(__NR_seccomp, SECCOMP_SET_MODE_FILTER, s->fflags[i], (long)&s->fprogs[i]);
			s->fret[i] = r;
			if (r > 0) {
				s->listener_fd = (int32_t)r;
				i++;
				break;
			}
			if (r == 0)
				used += need;
		}
		s->installed_upto = i;
	} else {
		for (i = 0; i < s->nfilters; i++) {
			s->installing = i;
			long r = raw3(__NR_seccomp, SECCOMP_SET_MODE_FILTER, s->fflags[i], (long)&s->fprogs[i]);
			s->fret[i] = r;
			if (r < 0) {
				failed = 1;
				break;
			}
			if (s->fflags[i] & SECCOMP_FILTER_FLAG_NEW_LISTENER)
				s->listener_fd = (int32_t)r;
		}
		s->installed_upto = i;
		if (!failed) {
			s->phase = PHASE_INSTALLED;
			breakpoint();
			for (i = s->first_call; i < s->ncalls; i++) {
				struct call *c = &s->calls[i];
				s->cur = i;
				s->res[i].state = 1;
				long r = c->kind ? compat_call((long)c->nr, c->args) : native_call((long)c->nr, c->args);
				s->res[i].ret = r;
				s->res[i].state = 2;
			}
		}
	}
	s->phase = PHASE_DONE;
	breakpoint();
	/* The server resumes us only with seccomp suspended, so these are not filtered. */
	if (s->listener_fd >= 0)
		raw3(__NR_close, s->listener_fd, 0, 0);
	raw3(__NR_exit, 0, 0, 0);
	for (;;)
		breakpoint();
}

static int t2_entry(void *arg)
{
	(void)arg;
	t2_body();
	return 0;
}

/* ---------------------------------------------------------------- the subject's main thread */

/* What every subject does first, before it stops for its tracer (the server): it dies with the
 * server, keeps none of its descriptors, and leaves no core.  Issue 16 item 4: a KILL_PROCESS
 * must not start the host's core handler each time.  RLIMIT_CORE 0 stops core files, but a
 * core_pattern pipe (systemd-coredump) runs anyway; fs/coredump.c vfs_coredump gives up on a
 * task whose mm is not dumpable.  Only as root: pidfd_getfd on the subject then still passes
 * __ptrace_may_access (CAP_SYS_PTRACE), which a plain uid would not. */
static void become_subject(pid_t server, int no_new_privs)
{
	struct rlimit nocore = {0, 0};

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != server)
		_exit(1);
	int devnull = open("/dev/null", O_RDWR);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
	}
	syscall(SYS_close_range, 3, ~0u, 0);
	setrlimit(RLIMIT_CORE, &nocore);
	if (no_new_privs)
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0)
		_exit(2);
	if (geteuid() == 0)
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static char t2_stack[1 << 16] __attribute__((aligned(64)));
static volatile pid_t t2_tid;

static void t1_main(pid_t server)
{
	sigset_t none;

	become_subject(server, 1);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGUSR2, SIG_IGN);
	raise(SIGSTOP);
	pid_t me = getpid();
	for (;;) {
		/* A signal-delivery-stop: the server resumes us with a command in S->cmd. */
		syscall(SYS_tgkill, me, me, SIGUSR2);
		if (S->cmd != CMD_SPAWN)
			_exit(0);
		syscall(SYS_close_range, 3, ~0u, 0);
		t2_tid = 0;
		if (clone(t2_entry, t2_stack + sizeof t2_stack,
			  CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
				  CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID,
			  NULL, &t2_tid, NULL, &t2_tid) < 0)
			_exit(3);
		pid_t v;
		while ((v = t2_tid) != 0)
			syscall(SYS_futex, &t2_tid, FUTEX_WAIT, v, NULL, NULL, 0);
	}
}

/* ---------------------------------------------------------------- the server */

static int sigfd = -1, notif_fd = -1, pidfd = -1, parent_fd = -1;
static pid_t server_pid, sub_pid, t2;
static int sub_ready, can_suspend = -1;
static int32_t notif_errno = 131;
static int notif_answer = 1;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void service_notif(void)
{
	struct seccomp_notif n;
	struct seccomp_notif_resp r;
	memset(&n, 0, sizeof n);
	if (ioctl(notif_fd, SECCOMP_IOCTL_NOTIF_RECV, &n) != 0)
		return;
	uint32_t cur = S->cur;
	if (cur < S->ncalls && S->res[cur].state == 1) {
		struct result *res = &S->res[cur];
		res->flags |= RF_NOTIF | RF_SD;
		memcpy(res->sd, &n.data, 64);
	}
	if (!notif_answer)
		return; /* the thread stays blocked: used to test timeouts */
	memset(&r, 0, sizeof r);
	r.id = n.id;
	r.error = -notif_errno;
	ioctl(notif_fd, SECCOMP_IOCTL_NOTIF_SEND, &r);
}

/* Processes a timed-out dump left attached because they were not stopped yet (a parent blocked
 * in vfork stops only when its child execs or exits): each is detached at its first stop, so
 * nothing stays frozen under this helper, and its events are never taken for a subject's. */
#define MAX_STRAYS 64
static pid_t strays[MAX_STRAYS];
static int nstrays;

static void add_stray(pid_t pid)
{
	if (nstrays < MAX_STRAYS)
		strays[nstrays++] = pid;
}

/* Consume a wait status of a stray: 1 if it was one (detached once stopped, forgotten once dead). */
static int stray_event(pid_t tid, int st)
{
	for (int i = 0; i < nstrays; i++) {
		if (strays[i] != tid)
			continue;
		if (WIFSTOPPED(st)) {
			/* A signal-delivery-stop (no event) keeps its signal; a trap stop has none. */
			int sig = (st >> 16) == 0 ? WSTOPSIG(st) : 0;
			if (ptrace(PTRACE_DETACH, tid, 0, sig) != 0 && errno != ESRCH)
				return 1;
		}
		strays[i] = strays[--nstrays];
		return 1;
	}
	return 0;
}

/* The process that started us exited: end now (subjects die with us, PTRACE_O_EXITKILL and
 * PDEATHSIG; the kernel detaches any stray). */
static void check_parent(const struct pollfd *p)
{
	if (p->fd >= 0 && p->revents)
		_exit(0);
}

static void drain_sigfd(void)
{
	struct signalfd_siginfo si;
	while (read(sigfd, &si, sizeof si) > 0)
		;
}

/* Next wait status of a subject's thread, answering notifications meanwhile; -1 on timeout. */
static int wait_event(long long deadline, pid_t *tid, int *status)
{
	for (;;) {
		pid_t r = waitpid(-1, status, __WALL | WNOHANG);
		if (r > 0) {
			if (stray_event(r, *status))
				continue;
			*tid = r;
			return 0;
		}
		if (r < 0 && errno != EINTR)
			return -2;
		long long left = deadline - now_ms();
		if (left <= 0)
			return -1;
		struct pollfd p[3] = {{sigfd, POLLIN, 0}, {parent_fd, POLLIN, 0}, {notif_fd, POLLIN, 0}};
		int n = poll(p, notif_fd >= 0 ? 3 : 2, (int)left);
		if (n <= 0)
			continue;
		check_parent(&p[1]);
		if (p[0].revents)
			drain_sigfd();
		if (notif_fd >= 0 && (p[2].revents & POLLIN))
			service_notif();
		else if (notif_fd >= 0 && (p[2].revents & (POLLHUP | POLLERR | POLLNVAL))) {
			close(notif_fd);
			notif_fd = -1;
		}
	}
}

static void close_notif(void)
{
	if (notif_fd >= 0)
		close(notif_fd);
	notif_fd = -1;
}

/* Forget a subject whose leader has been reaped (its pid may be reused from now on). */
static void subject_gone(void)
{
	sub_pid = 0;
	sub_ready = 0;
	close_notif();
	if (pidfd >= 0)
		close(pidfd);
	pidfd = -1;
}

/* Kill the subject and reap every thread of it, so nothing is left behind. */
static void kill_subject(void)
{
	if (!sub_pid)
		return;
	kill(sub_pid, SIGKILL);
	long long deadline = now_ms() + 5000;
	for (;;) {
		pid_t tid;
		int st;
		int r = wait_event(deadline, &tid, &st);
		if (r != 0)
			break;
		if (tid == sub_pid && (WIFEXITED(st) || WIFSIGNALED(st)))
			break;
	}
	subject_gone();
}

static int spawn_subject(long long deadline)
{
	pid_t p = fork();
	if (p < 0)
		return -1;
	if (p == 0) {
		t1_main(server_pid);
		_exit(4);
	}
	sub_pid = p;
	sub_ready = 0;
	for (;;) {
		pid_t tid;
		int st;
		if (wait_event(deadline, &tid, &st) != 0) {
			kill_subject();
			return -1;
		}
		if (tid != p)
			continue;
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			subject_gone();
			return -1;
		}
		int sig = WSTOPSIG(st);
		if (sig == SIGSTOP) {
			if (ptrace(PTRACE_SETOPTIONS, p, 0, OPT_TRACECLONE | OPT_EXITKILL) != 0) {
				kill_subject();
				return -1;
			}
			if (can_suspend < 0) {
				can_suspend = ptrace(PTRACE_SETOPTIONS, p, 0,
						     OPT_TRACECLONE | OPT_EXITKILL | PTRACE_O_SUSPEND_SECCOMP) == 0;
				ptrace(PTRACE_SETOPTIONS, p, 0, OPT_TRACECLONE | OPT_EXITKILL);
			}
			ptrace(PTRACE_CONT, p, 0, 0);
		} else if (sig == SIGUSR2) {
			sub_ready = 1;
			pidfd = (int)syscall(SYS_pidfd_open, p, 0);
			return 0;
		} else {
			ptrace(PTRACE_CONT, p, 0, 0);
		}
	}
}

static long call_phase_options(int trace)
{
	return OPT_EXITKILL | (trace ? OPT_TRACESECCOMP : 0);
}

/* One spawn of T2 for the current job; returns ST_* and sets *sub_died. */
static int run_t2(int trace, long long deadline, int *t2_status, int *sub_status, int *sub_died)
{
	int t2_dead = 0, t2_started = 0;
	*sub_died = 0;
	S->phase = 0;
	S->cur = ~0u;
	S->listener_fd = -1;
	S->installing = ~0u;
	if (S->mode == MODE_STACK)
		S->installed_upto = 0;
	S->cmd = CMD_SPAWN;
	t2 = 0;
	close_notif();
	if (ptrace(PTRACE_CONT, sub_pid, 0, 0) != 0)
		return ST_ERROR;
	sub_ready = 0;
	while (!(t2_dead && sub_ready) && !*sub_died) {
		pid_t tid;
		int st;
		int r = wait_event(deadline, &tid, &st);
		if (r == -1) {
			kill_subject();
			return ST_TIMEOUT;
		}
		if (r != 0)
			return ST_ERROR;
		if (tid == sub_pid) {
			if (WIFEXITED(st) || WIFSIGNALED(st)) {
				*sub_died = 1;
				*sub_status = st;
				subject_gone();
				continue;
			}
			int sig = WSTOPSIG(st), ev = st >> 16;
			if (ev == PTRACE_EVENT_CLONE) {
				unsigned long msg = 0;
				ptrace(PTRACE_GETEVENTMSG, sub_pid, 0, &msg);
				t2 = (pid_t)msg;
				ptrace(PTRACE_CONT, sub_pid, 0, 0);
			} else if (sig == SIGUSR2 && ev == 0) {
				sub_ready = 1;
			} else {
				ptrace(PTRACE_CONT, sub_pid, 0, 0);
			}
			continue;
		}
		/* T2's first stop may come before T1's clone event; only a live thread of this
		 * subject can be T2 (tgkill with signal 0 checks exactly that). */
		if (t2 == 0 && WIFSTOPPED(st) && syscall(SYS_tgkill, sub_pid, tid, 0) == 0)
			t2 = tid;
		if (tid != t2)
			continue; /* a previous T2 being reaped */
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			t2_dead = 1;
			*t2_status = st;
			continue;
		}
		int sig = WSTOPSIG(st), ev = st >> 16;
		if (ev == PTRACE_EVENT_SECCOMP) {
			unsigned long msg = 0;
			struct ptrace_sc_info info;
			memset(&info, 0, sizeof info);
			ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg);
			long got = ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof info, &info);
			if (S->phase == PHASE_INSTALLING && info.nr == __NR_seccomp && info.arch == NATIVE_AUDIT_ARCH) {
				/* Without suspension an earlier filter traced our own install: let it run. */
				ptrace(PTRACE_CONT, tid, 0, 0);
				continue;
			}
			/* SAFETY: skip the call (nr = -1) so that nothing a TRACE lets through ever
			 * runs; if that fails the subject dies before it can run the call. */
			if (skip_call(tid) != 0) {
				kill_subject();
				return ST_ERROR;
			}
			uint32_t cur = S->cur;
			if (S->phase == PHASE_INSTALLED && cur < S->ncalls && S->res[cur].state == 1) {
				struct result *res = &S->res[cur];
				res->flags |= RF_EVENT;
				res->msg = msg;
				if (got > 0 && info.op == 3) {
					int32_t nr32 = (int32_t)info.nr;
					uint32_t arch = info.arch;
					memcpy(res->sd, &nr32, 4);
					memcpy(res->sd + 4, &arch, 4);
					memcpy(res->sd + 8, &info.instruction_pointer, 8);
					memcpy(res->sd + 16, info.args, 48);
					res->flags |= RF_SD;
				}
			}
			ptrace(PTRACE_CONT, tid, 0, 0);
		} else if (ev == 0 && sig == SIGSTOP && !t2_started) {
			t2_started = 1;
			long opts = can_suspend ? OPT_EXITKILL | PTRACE_O_SUSPEND_SECCOMP : call_phase_options(trace);
			if (ptrace(PTRACE_SETOPTIONS, tid, 0, opts) != 0) {
				kill_subject();
				return ST_ERROR;
			}
			ptrace(PTRACE_CONT, tid, 0, 0);
		} else if (ev == 0 && sig == SIGTRAP) {
			step_over_breakpoint(tid);
			if (S->phase == PHASE_INSTALLED) {
				/* SAFETY: the calls must run filtered: if suspension cannot be lifted,
				 * the subject dies here. */
				if (ptrace(PTRACE_SETOPTIONS, tid, 0, call_phase_options(trace)) != 0) {
					kill_subject();
					return ST_ERROR;
				}
				if (S->listener_fd >= 0 && pidfd >= 0)
					notif_fd = (int)syscall(SYS_pidfd_getfd, pidfd, S->listener_fd, 0);
				ptrace(PTRACE_CONT, tid, 0, 0);
			} else {
				if (!can_suspend ||
				    ptrace(PTRACE_SETOPTIONS, tid, 0, OPT_EXITKILL | PTRACE_O_SUSPEND_SECCOMP) != 0) {
					/* T2 cannot leave unfiltered: end the whole subject instead. */
					kill_subject();
					*sub_died = 2;
					return ST_OK;
				}
				ptrace(PTRACE_CONT, tid, 0, 0);
			}
		} else if (ev == 0 && sig == SIGSYS) {
			siginfo_t si;
			memset(&si, 0, sizeof si);
			ptrace(PTRACE_GETSIGINFO, tid, 0, &si);
			uint32_t cur = S->cur;
			if (S->phase == PHASE_INSTALLED && cur < S->ncalls && S->res[cur].state == 1) {
				struct result *res = &S->res[cur];
				res->flags |= RF_TRAP;
				res->r_signo = si.si_signo;
				res->r_code = si.si_code;
				res->r_errno = si.si_errno;
				res->r_syscall = si.si_syscall;
				res->r_arch = si.si_arch;
				res->r_call_addr = (uint64_t)(uintptr_t)si.si_call_addr;
			}
			/* Suppressed: T2 resumes after the call as if a handler had returned, with no
			 * rt_sigreturn for the filters to see. */
			ptrace(PTRACE_CONT, tid, 0, 0);
		} else if (ev == 0) {
			ptrace(PTRACE_CONT, tid, 0, sig); /* anything else is delivered as it comes */
		} else {
			ptrace(PTRACE_CONT, tid, 0, 0);
		}
	}
	return ST_OK;
}

/* ------------------------------------------------------------ protocol */

static int read_full(int fd, void *buf, size_t n)
{
	char *p = buf;
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t r = write(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static char *out;
static size_t out_len, out_cap;

static void put(const void *p, size_t n)
{
	if (out_len + n > out_cap) {
		out_cap = (out_len + n) * 2;
		out = realloc(out, out_cap);
		if (!out)
			exit(5);
	}
	memcpy(out + out_len, p, n);
	out_len += n;
}

/* The wire is little-endian on every arch (a no-op on x86_64 and aarch64, swaps on s390x). */
static void put32(uint32_t v)
{
	v = htole32(v);
	put(&v, 4);
}

static void put64(uint64_t v)
{
	v = htole64(v);
	put(&v, 8);
}

static void get_words(uint32_t *dst, const char *p, unsigned n)
{
	memcpy(dst, p, 4 * (size_t)n);
	for (unsigned i = 0; i < n; i++)
		dst[i] = le32toh(dst[i]);
}

/* sock_filter records travel as the kernel's uapi bytes of a little-endian machine. */
static void filter_order(struct sock_filter *f, size_t n, int to_wire)
{
	for (size_t i = 0; i < n; i++) {
		f[i].code = to_wire ? htole16(f[i].code) : le16toh(f[i].code);
		f[i].k = to_wire ? htole32(f[i].k) : le32toh(f[i].k);
	}
}

static void put_result(const struct result *r)
{
	put32(r->state);
	put32(r->fate);
	put32(r->flags);
	put32((uint32_t)r->sig);
	put32((uint32_t)r->pid);
	put32((uint32_t)r->tid);
	put64((uint64_t)r->ret);
	put64(r->msg);
	put32((uint32_t)r->r_signo);
	put32((uint32_t)r->r_code);
	put32((uint32_t)r->r_errno);
	put32((uint32_t)r->r_syscall);
	put32(r->r_arch);
	put32(r->pad);
	put64(r->r_call_addr);
	put(r->sd, sizeof r->sd); /* struct seccomp_data as the kernel laid it out */
}

static void flush_reply(void)
{
	uint32_t n = htole32((uint32_t)out_len);
	if (write_full(1, &n, 4) || write_full(1, out, out_len))
		exit(0);
	out_len = 0;
}

/* Parses filters (u32 flags, u32 len, len*8 bytes) from the request into shared memory. */
static int load_filters(const char **pp, const char *end, uint32_t n)
{
	const char *p = *pp;
	size_t used = 0;
	if (n > MAX_FILTERS)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t hdr[2];
		if (end - p < 8)
			return -1;
		get_words(hdr, p, 2);
		p += 8;
		size_t bytes = (size_t)hdr[1] * 8;
		if ((size_t)(end - p) < bytes || used + hdr[1] > INSN_AREA / 8)
			return -1;
		memcpy(&S->insns[used], p, bytes);
		filter_order(&S->insns[used], hdr[1], 0);
		S->fflags[i] = hdr[0];
		S->fprogs[i].len = (unsigned short)hdr[1];
		S->fprogs[i].filter = &S->insns[used];
		S->fret[i] = 0;
		used += hdr[1];
		p += bytes;
	}
	S->nfilters = n;
	*pp = p;
	return 0;
}

static int ensure_subject(long long deadline)
{
	if (sub_pid && sub_ready) {
		int st;
		pid_t r = waitpid(sub_pid, &st, WNOHANG | __WALL);
		if (r == 0)
			return 0;
		if (r == sub_pid && (WIFEXITED(st) || WIFSIGNALED(st)))
			subject_gone(); /* killed from outside while idle */
	}
	if (sub_pid)
		kill_subject();
	return spawn_subject(deadline);
}

static void op_run(const char *p, const char *end)
{
	uint32_t hdr[5];
	int status = ST_OK, install_index = -1, install_errno = 0, install_sig = 0, restarts = 0;
	if (end - p < 20) {
		put32(ST_ERROR);
		return;
	}
	get_words(hdr, p, 5);
	p += 20;
	uint32_t nfilters = hdr[0], ncalls = hdr[1], trace = hdr[2] & 1, timeout = hdr[4];
	notif_answer = !(hdr[2] & 2);
	notif_errno = (int32_t)hdr[3];
	if (ncalls > MAX_CALLS || load_filters(&p, end, nfilters) != 0 ||
	    (size_t)(end - p) < (size_t)ncalls * sizeof(struct call)) {
		put32(ST_TOOBIG);
		return;
	}
	memcpy(S->calls, p, (size_t)ncalls * sizeof(struct call));
	for (uint32_t i = 0; i < ncalls; i++) {
		S->calls[i].kind = le32toh(S->calls[i].kind);
		S->calls[i].nr = (int32_t)le32toh((uint32_t)S->calls[i].nr);
		for (int j = 0; j < 6; j++)
			S->calls[i].args[j] = le64toh(S->calls[i].args[j]);
	}
	memset(S->res, 0, (size_t)ncalls * sizeof(struct result));
	S->ncalls = ncalls;
	S->mode = MODE_STACK;
	long long deadline = now_ms() + timeout;
	uint32_t next = 0;
	do {
		int t2_status = 0, sub_status = 0, sub_died = 0;
		if (ensure_subject(deadline) != 0) {
			status = ST_ERROR;
			break;
		}
		S->first_call = next;
		pid_t spid = sub_pid;
		status = run_t2((int)trace, deadline, &t2_status, &sub_status, &sub_died);
		if (status != ST_OK)
			break;
		restarts++;
		if (S->phase == PHASE_INSTALLING) {
			/* T2 died inside an install: an earlier filter blocked it (no suspension). */
			install_index = (int)S->installing;
			install_sig = WIFSIGNALED(t2_status) ? WTERMSIG(t2_status) : -1;
			break;
		}
		if (S->installed_upto < nfilters) {
			install_index = (int)S->installed_upto;
			install_errno = (int)-S->fret[install_index];
			break;
		}
		uint32_t i;
		for (i = next; i < ncalls; i++) {
			struct result *res = &S->res[i];
			res->pid = spid;
			res->tid = t2;
			if (res->state == 2) {
				res->fate = FATE_RETURNED;
				continue;
			}
			if (res->state == 1) {
				if (sub_died == 1) {
					res->fate = FATE_PROCESS_KILLED;
					res->sig = WIFSIGNALED(sub_status) ? WTERMSIG(sub_status) : -1;
					if (WIFSIGNALED(sub_status) && WCOREDUMP(sub_status))
						res->flags |= RF_CORE;
				} else {
					res->fate = FATE_THREAD_KILLED;
					res->sig = WIFSIGNALED(t2_status) ? WTERMSIG(t2_status) : -1;
				}
				i++;
			} else {
				res->fate = FATE_NOT_RUN;
			}
			break;
		}
		for (uint32_t j = i; j < ncalls; j++)
			S->res[j].fate = FATE_NOT_RUN;
		next = i;
	} while (next < ncalls);
	put32((uint32_t)status);
	put32((uint32_t)install_index);
	put32((uint32_t)install_errno);
	put32((uint32_t)install_sig);
	put32((uint32_t)(can_suspend > 0));
	put32((uint32_t)restarts);
	put32(server_pid);
	put32(ncalls);
	for (uint32_t i = 0; i < ncalls; i++)
		put_result(&S->res[i]);
}

/* net.core.bpf_jit_harden of the kernel we run on (a lab guest's own): constant blinding
 * lengthens the converted programs that the path budget counts, so accepted programs may share
 * a thread only without it; unreadable counts as blinding. */
static int jit_blinds_constants(void)
{
	int value = 2;
	FILE *f = fopen("/proc/sys/net/core/bpf_jit_harden", "r");
	if (f) {
		if (fscanf(f, "%d", &value) != 1)
			value = 2;
		fclose(f);
	}
	return value != 0;
}

static void op_each(const char *p, const char *end)
{
	uint32_t hdr[3];
	int status = ST_OK;
	if (end - p < 12) {
		put32(ST_ERROR);
		return;
	}
	get_words(hdr, p, 3);
	p += 12;
	uint32_t n = hdr[0];
	if (load_filters(&p, end, n) != 0) {
		put32(ST_TOOBIG);
		return;
	}
	S->mode = MODE_EACH;
	S->ncalls = 0;
	long long deadline = now_ms() + hdr[1];
	int share = hdr[2] && !jit_blinds_constants();
	uint32_t next = 0;
	while (next < n) {
		int t2_status = 0, sub_status = 0, sub_died = 0;
		if (ensure_subject(deadline) != 0) {
			status = ST_ERROR;
			break;
		}
		S->first_filter = next;
		S->installed_upto = next;
		S->share = share && can_suspend > 0;
		status = run_t2(0, deadline, &t2_status, &sub_status, &sub_died);
		if (status != ST_OK)
			break;
		if (S->installed_upto <= next) {
			status = ST_ERROR;
			break;
		}
		next = S->installed_upto;
	}
	put32((uint32_t)status);
	put32((uint32_t)(can_suspend > 0));
	put32(n);
	for (uint32_t i = 0; i < n; i++) {
		int64_t r = S->fret[i];
		put32((uint32_t)(int32_t)(r < 0 ? r : 0));
	}
}

static void op_dump(const char *p, const char *end)
{
	uint32_t hdr[2];
	if (end - p < 8) {
		put32(EINVAL);
		return;
	}
	get_words(hdr, p, 2);
	pid_t pid = (pid_t)hdr[0];
	long long deadline = now_ms() + hdr[1];
	if (pid <= 0 || pid == server_pid) {
		put32(EINVAL);
		put32(0);
		return;
	}
	if (ptrace(PTRACE_SEIZE, pid, 0, 0) != 0) {
		put32((uint32_t)errno);
		put32(0);
		return;
	}
	int err = 0;
	if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) != 0)
		err = errno;
	for (;;) {
		pid_t tid;
		int st;
		if (err)
			break;
		int r = wait_event(deadline, &tid, &st);
		if (r != 0) {
			err = r == -1 ? ETIMEDOUT : ECHILD;
			break;
		}
		if (tid == sub_pid && (WIFEXITED(st) || WIFSIGNALED(st))) {
			subject_gone(); /* killed from outside while idle: never signal its pid again */
			continue;
		}
		if (tid != pid)
			continue;
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			err = ESRCH;
			break;
		}
		break;
	}
	char *buf = NULL;
	uint32_t count = 0;
	size_t body = 0;
	char *tmp = NULL;
	while (!err) {
		long len = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, (long)count, NULL);
		if (len < 0) {
			if (errno == ENOENT && count > 0)
				break;
			err = errno;
			break;
		}
		tmp = realloc(buf, body + 4 + (size_t)len * 8);
		if (!tmp) {
			err = ENOMEM;
			break;
		}
		buf = tmp;
		uint32_t l32 = htole32((uint32_t)len);
		memcpy(buf + body, &l32, 4);
		if (ptrace(PTRACE_SECCOMP_GET_FILTER, pid, (long)count, buf + body + 4) != len) {
			err = errno ? errno : EIO;
			break;
		}
		filter_order((struct sock_filter *)(buf + body + 4), (size_t)len, 1);
		body += 4 + (size_t)len * 8;
		count++;
	}
	/* Issue 16 item 3: never leave the process attached. A tracee that has not stopped yet
	 * cannot be detached (ESRCH): it is detached at its first stop instead. */
	if (ptrace(PTRACE_DETACH, pid, 0, 0) != 0 && errno == ESRCH && kill(pid, 0) == 0)
		add_stray(pid);
	put32((uint32_t)err);
	put32(err ? 0 : count);
	if (!err)
		put(buf, body);
	free(buf);
}

/* ------------------------------------------------- notification ioctls and calls after execve */

#ifndef SECCOMP_IOCTL_NOTIF_ADDFD
#define SECCOMP_IOCTL_NOTIF_ADDFD SECCOMP_IOW(3, struct seccomp_notif_addfd)
struct seccomp_notif_addfd {
	uint64_t id;
	uint32_t flags, srcfd, newfd, newfd_flags;
};
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, uint64_t)
#endif
#define ADDFD_FLAG_SEND (1u << 1)  /* SECCOMP_ADDFD_FLAG_SEND */
#define NOTIF_FD_SYNC_WAKE_UP 1ull /* SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP */
#define N_NOTIF_IOCTLS 3

/* A forked child that only runs (its filter allows everything) takes a listener and tries the
 * ioctls that came after it on its own fd, each with an id no notification has: ADDFD (5.9),
 * ADDFD with SECCOMP_ADDFD_FLAG_SEND (5.14) and SET_FLAGS with SYNC_WAKE_UP (6.6).  An ioctl or
 * flag the kernel does not know is EINVAL (seccomp_notify_ioctl, seccomp_notify_addfd); a known
 * one gets as far as looking the id up: ENOENT, or 0 for SET_FLAGS.  Reply: status, then the
 * three results (0 or -errno), -1000 for an ioctl not tried (no listener). */
static void op_notif_ioctls(void)
{
	int fds[2];
	int32_t res[N_NOTIF_IOCTLS];
	for (int i = 0; i < N_NOTIF_IOCTLS; i++)
		res[i] = -1000;
	if (pipe(fds)) {
		put32(ST_ERROR);
		return;
	}
	pid_t p = fork();
	if (p == 0) {
		struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
		struct sock_fprog prog = {1, &allow};
		close(fds[0]);
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
		if (fd >= 0) {
			struct seccomp_notif_addfd add = {.id = 0x5eccull << 32, .srcfd = (uint32_t)fd};
			res[0] = ioctl(fd, SECCOMP_IOCTL_NOTIF_ADDFD, &add) ? -errno : 0;
			add.flags = ADDFD_FLAG_SEND;
			res[1] = ioctl(fd, SECCOMP_IOCTL_NOTIF_ADDFD, &add) ? -errno : 0;
			/* seccomp_notify_ioctl passes SET_FLAGS's argument itself as the flags */
			res[2] = ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, NOTIF_FD_SYNC_WAKE_UP) ? -errno : 0;
		}
		write_full(fds[1], res, sizeof res);
		_exit(0);
	}
	close(fds[1]);
	int ok = p > 0 && read_full(fds[0], res, sizeof res) == 0;
	close(fds[0]);
	if (p > 0)
		waitpid(p, NULL, 0);
	put32(ok ? ST_OK : ST_ERROR);
	for (int i = 0; i < N_NOTIF_IOCTLS; i++)
		put32((uint32_t)res[i]);
}

#define EXEC_ARGV0 "bpfsim-oracle-exec"

/* The image execve() started (main() sees EXEC_ARGV0): make the one call, hand its result to
 * fd 3 (inherited), leave.  Every call here is judged by the filters the old image installed. */
static int exec_call(char **argv)
{
	uint64_t a[6] = {0};
	long nr = strtol(argv[1], NULL, 0);
	for (int i = 0; i < 6 && argv[2 + i]; i++)
		a[i] = strtoull(argv[2 + i], NULL, 0);
	int64_t r = native_call(nr, a);
	write_full(3, &r, sizeof r);
	return 0;
}

/* Issue 14 item 6, fs/exec.c: execve keeps the caller's filters.  A child sets no_new_privs,
 * installs the stack in order (like a real program: a filter may refuse a later install),
 * then execve()s this helper, whose new image makes one harmless call (getpid, getppid or
 * gettid) and writes what it returned to a pipe.  Request: nfilters, timeout_ms, u32 kind (0),
 * i32 nr, 6 u64 args, then the filters.  Reply: status, install index (-1: all installed),
 * its errno, the child's wait status, 1 if the call returned, and the i64 it returned. */
static void op_exec(const char *p, const char *end)
{
	uint32_t head[2];
	struct call c;
	if (end - p < 8 + (long)sizeof c) {
		put32(ST_ERROR);
		return;
	}
	get_words(head, p, 2);
	p += 8;
	memcpy(&c, p, sizeof c);
	p += sizeof c;
	c.nr = (int32_t)le32toh((uint32_t)c.nr);
	for (int i = 0; i < 6; i++)
		c.args[i] = le64toh(c.args[i]);
	if ((c.nr != SYS_getpid && c.nr != SYS_getppid && c.nr != SYS_gettid) || load_filters(&p, end, head[0])) {
		put32(ST_ERROR);
		return;
	}
	int fds[2], report[2];
	if (pipe(fds) || pipe2(report, O_CLOEXEC)) {
		put32(ST_ERROR);
		return;
	}
	pid_t child = fork();
	if (child == 0) {
		int32_t failed[2] = {-1, 0};
		close(fds[0]);
		close(report[0]);
		if (fds[1] != 3) {
			dup2(fds[1], 3);
			close(fds[1]);
		}
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		for (uint32_t i = 0; i < S->nfilters; i++)
			if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, S->fflags[i], &S->fprogs[i]) < 0) {
				failed[0] = (int32_t)i;
				failed[1] = errno;
				write_full(report[1], failed, sizeof failed);
				_exit(0);
			}
		char nr[24], args[6][24];
		char *argv[9] = {EXEC_ARGV0, nr};
		char *envp[1] = {NULL};
		snprintf(nr, sizeof nr, "%ld", (long)c.nr);
		for (int i = 0; i < 6; i++) {
			snprintf(args[i], sizeof args[i], "0x%llx", (unsigned long long)c.args[i]);
			argv[2 + i] = args[i];
		}
		argv[8] = NULL;
		execve("/proc/self/exe", argv, envp);
		failed[1] = errno;
		write_full(report[1], failed, sizeof failed);
		_exit(0);
	}
	close(fds[1]);
	close(report[1]);
	int32_t failed[2] = {-1, 0};
	int64_t ret = 0;
	int got = 0, status = 0, timed_out = 0;
	long long deadline = now_ms() + head[1];
	struct pollfd pf = {fds[0], POLLIN, 0};
	if (child > 0 && read_full(report[0], failed, sizeof failed) != 0)
		failed[0] = -1, failed[1] = 0; /* closed by execve: the stack is installed */
	while (child > 0 && failed[1] == 0) {
		int left = (int)(deadline - now_ms());
		if (left <= 0) {
			timed_out = 1;
			break;
		}
		if (poll(&pf, 1, left) > 0) {
			got = read_full(fds[0], &ret, sizeof ret) == 0;
			break;
		}
	}
	if (child > 0) {
		if (timed_out)
			kill(child, SIGKILL);
		waitpid(child, &status, 0);
	}
	close(fds[0]);
	close(report[0]);
	put32(child < 0 ? ST_ERROR : timed_out ? ST_TIMEOUT : ST_OK);
	put32((uint32_t)failed[0]);
	put32((uint32_t)failed[1]);
	put32((uint32_t)status);
	put32((uint32_t)got);
	put64((uint64_t)ret);
}

/* The lab's 5.10 pitfall, as a request: a process P clone()s a child C with CLONE_VM but not
 * CLONE_THREAD (C shares P's memory, not its thread group); C installs a filter that kills the
 * process on getppid and calls it.  C dies of SIGSYS; a core-dumping kill then runs
 * do_coredump -> coredump_wait -> zap_threads, which before 0258b5fd7c71 (5.16) killed every
 * process using the mm, P included, unless the mm is not dumpable (do_coredump stops first).
 * RLIMIT_CORE is 0 (no core file is ever written; the zap comes before that check).
 * Request: u32 dumpable (what P sets with PR_SET_DUMPABLE before the clone).  Reply: status,
 * P's wait status, C's wait status as P saw it (-1 if P did not live to report it). */
static char shared_mm_stack[1 << 16] __attribute__((aligned(64)));
static struct sock_filter kill_on_getppid[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

static int shared_mm_child(void *arg)
{
	struct sock_fprog prog = {4, kill_on_getppid};
	(void)arg;
	syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
	syscall(SYS_getppid);
	return 0;
}

static void op_shared_mm_kill(const char *p, const char *end)
{
	uint32_t dumpable;
	int fds[2];
	if (end - p < 4 || pipe(fds)) {
		put32(ST_ERROR);
		return;
	}
	get_words(&dumpable, p, 1);
	pid_t parent = fork();
	if (parent == 0) {
		struct rlimit none = {0, 0};
		int32_t st = -1;
		close(fds[0]);
		setrlimit(RLIMIT_CORE, &none);
		prctl(PR_SET_DUMPABLE, dumpable ? 1 : 0, 0, 0, 0);
		pid_t c = clone(shared_mm_child, shared_mm_stack + sizeof shared_mm_stack, CLONE_VM | SIGCHLD, NULL);
		if (c > 0 && waitpid(c, &st, __WALL) == c)
			write_full(fds[1], &st, sizeof st);
		_exit(0);
	}
	close(fds[1]);
	int32_t child_status = -1;
	int status = 0;
	if (parent > 0 && read_full(fds[0], &child_status, sizeof child_status) != 0)
		child_status = -1;
	close(fds[0]);
	if (parent > 0)
		waitpid(parent, &status, 0);
	put32(parent > 0 ? ST_OK : ST_ERROR);
	put32((uint32_t)status);
	put32((uint32_t)child_status);
}

/* Strict mode (kernel/seccomp.c:__secure_computing_strict, the arch's asm/seccomp.h): may a
 * thread in SECCOMP_MODE_STRICT make this call?  A traced child closes every descriptor (so an
 * allowed read or write can only fail with EBADF), enters strict mode and makes the call.  The
 * server follows its syscall stops (PTRACE_SYSCALL: the entry stop comes before seccomp's
 * check): a forbidden call ends the child with SIGKILL before any exit stop; an allowed one
 * reaches its exit stop (the child is then killed; sigreturn's garbage frame never runs) or
 * exits (exit).  Request: u32 kind (0 native, 1 int $0x80), i32 nr, u64 args[0].  Reply:
 * status, u32 ran (0 killed by strict mode, 1 the call ran), i32 the child's wait status. */
static void op_strict(const char *p, const char *end)
{
	uint32_t head[2];
	uint64_t a[6] = {0};
	if (end - p < 16) {
		put32(ST_ERROR);
		return;
	}
	get_words(head, p, 2);
	memcpy(&a[0], p + 8, 8);
	a[0] = le64toh(a[0]);
	long nr = (int32_t)head[1];
	pid_t child = fork();
	if (child == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		if (syscall(436 /* close_range, 5.9 */, 0, ~0u, 0) != 0)
			for (int fd = 0; fd < 1024; fd++)
				close(fd);
		syscall(SYS_prctl, PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0);
		if (head[0])
			compat_call(nr, a);
		else
			native_call(nr, a);
		syscall(SYS_exit, 0);
		for (;;)
			;
	}
	if (child < 0) {
		put32(ST_ERROR);
		return;
	}
	int st = 0, strict = 0, ran = 0, status = ST_OK;
	long last_nr = -1;
	long long deadline = now_ms() + 5000;
	waitpid(child, &st, 0);
	ptrace(PTRACE_SETOPTIONS, child, 0, PTRACE_O_TRACESYSGOOD | OPT_EXITKILL);
	ptrace(PTRACE_SYSCALL, child, 0, 0);
	for (;;) {
		pid_t r = waitpid(child, &st, WNOHANG);
		if (r == 0) {
			if (now_ms() > deadline) {
				kill(child, SIGKILL);
				waitpid(child, &st, 0);
				status = ST_TIMEOUT;
				break;
			}
			usleep(500);
			continue;
		}
		if (r < 0 || WIFEXITED(st) || WIFSIGNALED(st)) {
			ran = strict && !(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
			break;
		}
		int sig = WSTOPSIG(st);
		if (sig == (SIGTRAP | 0x80)) {
			struct ptrace_sc_info info;
			memset(&info, 0, sizeof info);
			ptrace(PTRACE_GET_SYSCALL_INFO, child, sizeof info, &info);
			if (info.op == 1 /* PTRACE_SYSCALL_INFO_ENTRY */)
				last_nr = (long)info.nr;
			else if (info.op == 2 /* PTRACE_SYSCALL_INFO_EXIT */ && strict) {
				ran = 1;
				kill(child, SIGKILL);
				waitpid(child, &st, 0);
				break;
			} else if (info.op == 2 && last_nr == SYS_prctl)
				strict = 1; /* prctl(PR_SET_SECCOMP) returned: the next call is the one */
			sig = 0;
		}
		ptrace(PTRACE_SYSCALL, child, 0, sig == SIGSTOP ? 0 : sig);
	}
	put32(status);
	put32((uint32_t)ran);
	put32((uint32_t)st);
}

/* ---------------------------------------------------------------- scenes: several threads */
/* OP_SCENE runs a script of steps in a fresh subject process whose threads (and forked child
 * processes) each sit in sc_worker: stopped at a breakpoint until the server hands them a step,
 * then making exactly that one system call (or clone/fork), then stopping again.  Waiting is a
 * ptrace stop, never a system call, so each thread's filters only ever see the scripted calls.
 * Every thread is traced (PTRACE_O_TRACECLONE|TRACEFORK|TRACEEXIT), which shows thread and
 * process deaths, the TRAP and user-dispatch SIGSYS (suppressed, as if a handler returned) and,
 * with the tracer option, PTRACE_EVENT_SECCOMP (the tracer resumes the call: the recheck runs).
 * At the end each live thread reports its seccomp mode, no_new_privs and filters. */

#define OP_SCENE 5
#define SC_SLOTS 16
#define SC_STEPS 256
#define SC_STACK (1 << 16)

#define SC_CALL 0
#define SC_CLONE 1
#define SC_FORK 2

#define SC_PTR_BUF 0xFFFFFFFEu
#define SC_PTR_SELECTOR 0xFFFFFFFDu

#define SC_OPT_TRACER 1
#define SC_OPT_NO_NNP 2

#define SC_FATE_RETURNED 0
#define SC_FATE_THREAD 1
#define SC_FATE_PROCESS 2
#define SC_FATE_NOT_RUN 3

#define SC_RF_EVENT 1
#define SC_RF_TRAP 2
#define SC_RF_NOTIF 4
#define SC_RF_DISPATCH 8

#define SC_THREAD_FLAGS \
	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM)

struct sc_step {
	uint32_t slot, kind;
	int64_t nr;
	uint64_t args[6];
	uint32_t ptr_arg, ptr_what; /* args[ptr_arg] becomes a pointer: a filter's sock_fprog,
				       the slot's 16-byte buffer or its selector byte */
	uint32_t new_slot;
	int32_t selector; /* >= 0: the slot's selector byte is set to this before the step */
	uint64_t buf_init;
};

struct sc_result {
	int64_t ret;
	uint32_t fate, flags;
	int32_t sig, new_tid;
	uint64_t msg;
	int32_t i_signo, i_code, i_errno, i_syscall;
	uint32_t i_arch, pad;
	uint64_t i_call_addr;
	uint8_t buf[16];
};

struct scene {
	volatile uint32_t cur_step[SC_SLOTS];
	volatile uint32_t pending_slot;
	struct sc_step steps[SC_STEPS];
	struct sc_result res[SC_STEPS];
	uint8_t buf[SC_SLOTS][16];
	volatile uint8_t selector[SC_SLOTS][64];
};

static struct scene *W;
static char sc_stacks[SC_SLOTS][SC_STACK] __attribute__((aligned(64)));
extern char after_native_call[], sc_after_clone[];
__attribute__((noreturn, used)) void sc_thread_start(void);

/* Each arch gives the scene three things beside native_call: sc_clone, clone(2) of a thread onto
 * a stack of its own that starts in sc_thread_start; sc_am_child, an illegal instruction (SIGILL) at which the
 * server answers whether the thread is a fork's child (fork returned 0 to the child, and to a
 * parent whose call a filter answered with ERRNO(0)); answer_am_child, that answer written into
 * the return register with the pc past the instruction.  SC_NR_MASK: the bits of the number
 * register the entry code dispatches on; SC_CLONE_FLAGS_ARG: where clone(2) takes its flags;
 * SC_FORK_NR: fork(2), or clone(SIGCHLD) where the arch has no fork. */
#if defined(__x86_64__)
#define SC_NR_MASK 0xFFFFFFFFu /* do_syscall_64: the low half, as an int (5.14; before, see sc_allowed) */
#define SC_CLONE_FLAGS_ARG 0
#define SC_FORK_NR __NR_fork

static __attribute__((noinline, noclone)) long sc_clone(unsigned long flags, char *stack_top)
{
	long ret;
	register long r10 __asm__("r10") = 0;
	register long r8 __asm__("r8") = 0;
	register long r9 __asm__("r9") = 0;
	__asm__ volatile("syscall\n\t.globl sc_after_clone\nsc_after_clone:\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "cmp %%rsi, %%rsp\n\t" /* 0 from a filter (ERRNO 0): no new stack, no child */
			 "jne 1f\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "call sc_thread_start\n\t"
			 "ud2\n"
			 "1:"
			 : "=a"(ret)
			 : "a"((long)__NR_clone), "D"(flags), "S"(stack_top), "d"(0L), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long sc_am_child(void)
{
	long v = 0;
	__asm__ volatile("ud2" : "+a"(v) : : "memory");
	return v;
}

static int answer_am_child(pid_t tid, long value)
{
	struct user_regs_struct regs;
	if (ptrace(PTRACE_GETREGS, tid, 0, &regs) != 0)
		return -1;
	regs.rax = (unsigned long long)value;
	regs.rip += 2; /* ud2 */
	return (int)ptrace(PTRACE_SETREGS, tid, 0, &regs);
}

#elif defined(__aarch64__)
#define SC_NR_MASK 0xFFFFFFFFu /* el0_svc_common's int scno */
#define SC_CLONE_FLAGS_ARG 0
#define SC_FORK_NR __NR_clone /* no fork(2): glibc's fork is clone(SIGCHLD, 0) */

/* arch/arm64 copy_thread: the child's sp is clone's second argument. */
static __attribute__((noinline, noclone)) long sc_clone(unsigned long flags, char *stack_top)
{
	register long x8 __asm__("x8") = __NR_clone;
	register long x0 __asm__("x0") = (long)flags;
	register long x1 __asm__("x1") = (long)stack_top;
	register long x2 __asm__("x2") = 0;
	register long x3 __asm__("x3") = 0;
	register long x4 __asm__("x4") = 0;
	__asm__ volatile("svc #0\n\t.globl sc_after_clone\nsc_after_clone:\n\t"
			 "cbnz x0, 1f\n\t"
			 "mov x9, sp\n\t"
			 "cmp x9, x1\n\t" /* 0 from a filter (ERRNO 0): no new stack, no child */
			 "b.ne 1f\n\t"
			 "mov x29, #0\n\t"
			 "bl sc_thread_start\n\t"
			 "udf #1\n"
			 "1:"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4)
			 : "x9", "x30", "cc", "memory");
	return x0;
}

static inline long sc_am_child(void)
{
	register long x0 __asm__("x0") = 0;
	__asm__ volatile("udf #0" : "+r"(x0) : : "memory");
	return x0;
}

/* do_el0_undef reports the udf's own address: step past it. */
static int answer_am_child(pid_t tid, long value)
{
	struct user_regs_struct regs;
	struct iovec io = {&regs, sizeof regs};
	if (ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, &io) != 0)
		return -1;
	regs.regs[0] = (unsigned long long)value;
	regs.pc += 4;
	return (int)ptrace(PTRACE_SETREGSET, tid, NT_PRSTATUS, &io);
}

#elif defined(__s390x__)
#define SC_NR_MASK 0xFFFFu /* __do_syscall: gpr 1's low 16 bits */
#define SC_CLONE_FLAGS_ARG 1 /* CLONE_BACKWARDS2: clone(newsp, flags, ...) */
#define SC_FORK_NR __NR_fork

/* arch/s390 copy_thread: the child's r15 is clone's first argument.  The child makes room for
 * the 160-byte register save area that a callee may write above its caller's r15. */
static __attribute__((noinline, noclone)) long sc_clone(unsigned long flags, char *stack_top)
{
	register long r1 __asm__("1") = __NR_clone;
	register long r2 __asm__("2") = (long)stack_top;
	register long r3 __asm__("3") = (long)flags;
	register long r4 __asm__("4") = 0;
	register long r5 __asm__("5") = 0;
	register long r6 __asm__("6") = 0;
	register long top __asm__("7") = (long)stack_top;
	__asm__ volatile("svc 0\n\t.globl sc_after_clone\nsc_after_clone:\n\t"
			 "ltgr %%r2,%%r2\n\t"
			 "jnz 1f\n\t"
			 "cgr %%r15,%%r7\n\t" /* 0 from a filter (ERRNO 0): no new stack, no child */
			 "jne 1f\n\t"
			 "aghi %%r15,-160\n\t"
			 "brasl %%r14,sc_thread_start\n\t"
			 ".word 0x0000\n"
			 "1:"
			 : "+d"(r2)
			 : "d"(r1), "d"(r3), "d"(r4), "d"(r5), "d"(r6), "d"(top)
			 : "r14", "cc", "memory");
	return r2;
}

static inline long sc_am_child(void)
{
	register long r2 __asm__("2") = 0;
	__asm__ volatile(".word 0x0000" : "+d"(r2) : : "memory");
	return r2;
}

/* illegal_op: SIGILL with the PSW already past the instruction. */
static int answer_am_child(pid_t tid, long value)
{
	return (int)ptrace(PTRACE_POKEUSER, tid, offsetof(struct user, regs.gprs[2]), value);
}
#endif

/* Nothing here calls libc: the threads share TLS and every system call is filtered. */
static __attribute__((noreturn)) void sc_worker(uint32_t slot)
{
	for (;;) {
		breakpoint(); /* idle until the server hands over the next step */
		struct scene *w = W;
		uint32_t i = w->cur_step[slot];
		struct sc_step *st = &w->steps[i];
		uint64_t a[6];
		for (int k = 0; k < 6; k++)
			a[k] = st->args[k];
		if (st->ptr_arg < 6) {
			if (st->ptr_what == SC_PTR_BUF)
				a[st->ptr_arg] = (uint64_t)(uintptr_t)w->buf[slot];
			else if (st->ptr_what == SC_PTR_SELECTOR)
				a[st->ptr_arg] = (uint64_t)(uintptr_t)w->selector[slot];
			else
				a[st->ptr_arg] = (uint64_t)(uintptr_t)&S->fprogs[st->ptr_what];
		}
		long r;
		if (st->kind == SC_CLONE) {
			w->pending_slot = st->new_slot;
			r = sc_clone(SC_THREAD_FLAGS, sc_stacks[st->new_slot] + SC_STACK);
		} else {
			r = native_call((long)st->nr, a);
			if (st->kind == SC_FORK && r == 0 && sc_am_child()) {
				slot = st->new_slot; /* the child process's only thread */
				continue;
			}
		}
		w->res[i].ret = r;
	}
}

void sc_thread_start(void) { sc_worker(W->pending_slot); }

static void sc_subject(uint32_t options, pid_t server)
{
	sigset_t all;

	become_subject(server, !(options & SC_OPT_NO_NNP));
	raise(SIGSTOP);
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL); /* forced signals (SIGSYS, SIGTRAP) still come */
	sc_worker(0);
}

struct sc_slot {
	pid_t tid, tgid;
	int state; /* 0 unused, 1 alive, 2 dead */
	int idle, status, died_in_step, reaped;
};

static struct sc_slot sl[SC_SLOTS];
static int sc_notif[SC_SLOTS], sc_nnotif;
static int sc_running = -1, sc_child = -1, sc_tracer;
static struct {
	pid_t tid;
	int status;
} sc_pending[SC_SLOTS];
static int sc_npending;
static uint32_t sc_cur;

static int sc_find(pid_t tid)
{
	for (int s = 0; s < SC_SLOTS; s++)
		if (sl[s].state && sl[s].tid == tid)
			return s;
	return -1;
}

static void sc_died(int s, int status)
{
	if (sl[s].state != 1)
		return;
	sl[s].state = 2;
	sl[s].status = status;
	sl[s].died_in_step = 1;
}

static void sc_service_notif(int fd)
{
	struct seccomp_notif n;
	struct seccomp_notif_resp r;
	memset(&n, 0, sizeof n);
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &n) != 0)
		return;
	if (sc_running >= 0)
		W->res[sc_cur].flags |= SC_RF_NOTIF;
	memset(&r, 0, sizeof r);
	r.id = n.id;
	r.error = -notif_errno;
	ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &r);
}

/* One wait status of any traced thread, answering notifications meanwhile; -1 on timeout,
 * 1 when a few milliseconds passed without one (a thread's exit shows in /proc, not here). */
static int sc_wait(long long deadline, pid_t *tid, int *status)
{
	for (;;) {
		pid_t r = waitpid(-1, status, __WALL | WNOHANG);
		if (r > 0) {
			if (stray_event(r, *status))
				continue;
			*tid = r;
			return 0;
		}
		if (r < 0 && errno != EINTR)
			return -2;
		long long left = deadline - now_ms();
		if (left <= 0)
			return -1;
		struct pollfd p[1 + SC_SLOTS];
		p[0].fd = sigfd;
		p[0].events = POLLIN;
		for (int k = 0; k < sc_nnotif; k++) {
			p[1 + k].fd = sc_notif[k];
			p[1 + k].events = POLLIN;
		}
		if (poll(p, 1 + sc_nnotif, (int)(left > 2 ? 2 : left)) <= 0)
			return 1;
		if (p[0].revents) {
			struct signalfd_siginfo si;
			while (read(sigfd, &si, sizeof si) > 0)
				;
		}
		for (int k = sc_nnotif - 1; k >= 0; k--) {
			if (p[1 + k].revents & POLLIN)
				sc_service_notif(sc_notif[k]);
			else if (p[1 + k].revents & (POLLHUP | POLLERR | POLLNVAL)) {
				close(sc_notif[k]); /* no task uses its filter any more */
				sc_notif[k] = sc_notif[--sc_nnotif];
			}
		}
		return 1;
	}
}

/* May a traced call run when the tracer resumes it?  Only the calls a scene is allowed to make. */
static int sc_allowed(long nr, const uint64_t *a);

static void sc_event(pid_t tid, int st, int tracer)
{
	int s = sc_find(tid);
	if (s < 0) {
		/* A new thread or process reporting before its parent's clone event (kept until that
		 * event names it), or what is left of an earlier subject (never resumed). */
		if (!(WIFEXITED(st) || WIFSIGNALED(st)) && sc_npending < SC_SLOTS) {
			sc_pending[sc_npending].tid = tid;
			sc_pending[sc_npending++].status = st;
		}
		return;
	}
	if (WIFEXITED(st) || WIFSIGNALED(st)) {
		sc_died(s, st);
		sl[s].reaped = 1;
		if (tid == sl[s].tgid) /* a leader is reported last: its whole process is gone */
			for (int k = 0; k < SC_SLOTS; k++)
				if (sl[k].state == 1 && sl[k].tgid == tid)
					sc_died(k, st);
		return;
	}
	int sig = WSTOPSIG(st), ev = st >> 16;
	if (ev == PTRACE_EVENT_CLONE || ev == PTRACE_EVENT_FORK) {
		unsigned long msg = 0;
		ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg);
		if (sc_child >= 0 && sl[sc_child].state == 0) {
			sl[sc_child].tid = (pid_t)msg;
			sl[sc_child].tgid = ev == PTRACE_EVENT_FORK ? (pid_t)msg : sl[s].tgid;
			sl[sc_child].state = 1;
			sl[sc_child].idle = 0;
			if (sc_running >= 0)
				W->res[sc_cur].new_tid = (int32_t)msg;
		}
		ptrace(PTRACE_CONT, tid, 0, 0);
		for (int k = 0; k < sc_npending; k++)
			if (sc_pending[k].tid == (pid_t)msg) {
				int early = sc_pending[k].status;
				sc_pending[k] = sc_pending[--sc_npending];
				sc_event((pid_t)msg, early, tracer);
				break;
			}
	} else if (ev == PTRACE_EVENT_EXIT) {
		unsigned long msg = 0;
		ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg);
		sc_died(s, (int)msg);
		ptrace(PTRACE_CONT, tid, 0, 0);
	} else if (ev == PTRACE_EVENT_SECCOMP) {
		unsigned long msg = 0;
		struct ptrace_sc_info info;
		ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg);
		if (sc_running >= 0 && s == sc_running) {
			W->res[sc_cur].flags |= SC_RF_EVENT;
			W->res[sc_cur].msg = msg;
		}
		/* SAFETY: the tracer lets only the calls a scene may make run; others are skipped. */
		memset(&info, 0, sizeof info);
		if (!tracer || ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof info, &info) <= 0 ||
		    info.op != 3 /* PTRACE_SYSCALL_INFO_SECCOMP */) {
			kill(sl[s].tgid, SIGKILL);
			return;
		}
		if (!sc_allowed((long)info.nr, info.args) && skip_call(tid) != 0) {
			kill(sl[s].tgid, SIGKILL);
			return;
		}
		ptrace(PTRACE_CONT, tid, 0, 0);
	} else if (ev == 0 && sig == SIGTRAP) {
		step_over_breakpoint(tid);
		sl[s].idle = 1; /* back at the breakpoint: stays stopped */
	} else if (ev == 0 && sig == SIGILL) {
		if (answer_am_child(tid, s != sc_running) != 0) { /* sc_am_child asks */
			kill(sl[s].tgid, SIGKILL);
			return;
		}
		ptrace(PTRACE_CONT, tid, 0, 0);
	} else if (ev == 0 && sig == SIGSYS) {
		siginfo_t si;
		memset(&si, 0, sizeof si);
		ptrace(PTRACE_GETSIGINFO, tid, 0, &si);
		if (sc_running >= 0 && s == sc_running) {
			struct sc_result *r = &W->res[sc_cur];
			r->flags |= si.si_code == 2 ? SC_RF_DISPATCH : SC_RF_TRAP;
			r->i_signo = si.si_signo;
			r->i_code = si.si_code;
			r->i_errno = si.si_errno;
			r->i_syscall = si.si_syscall;
			r->i_arch = si.si_arch;
			r->i_call_addr = (uint64_t)(uintptr_t)si.si_call_addr;
		}
		ptrace(PTRACE_CONT, tid, 0, 0); /* suppressed: as if a handler returned */
	} else {
		ptrace(PTRACE_CONT, tid, 0, 0); /* first stops of new threads, blocked signals */
	}
}

static int sc_allowed(long nr, const uint64_t *a)
{
	uint32_t n = (uint32_t)nr & SC_NR_MASK; /* x86_64 before 5.14 looked the whole register up in a
						   thread without filters: ENOSYS, harmless */
	switch (n) {
	case __NR_getpid: case __NR_getppid: case __NR_gettid: case __NR_getuid: case __NR_getgid:
	case __NR_geteuid: case __NR_getegid:
#ifdef __NR_getpgrp
	case __NR_getpgrp:
#endif
		return 1; /* getpid-like */
	case __NR_seccomp:
		return 1; /* every operation of seccomp() only acts on this subject */
	case __NR_prctl:
		return a[0] == PR_SET_SECCOMP || a[0] == PR_GET_SECCOMP || a[0] == 59 ||
		       a[0] == PR_SET_NO_NEW_PRIVS || a[0] == PR_GET_NO_NEW_PRIVS ||
		       a[0] == PR_GET_DUMPABLE; /* a query: lets tests see become_subject work */
#ifdef __NR_fork
	case __NR_fork:
		return 1;
#endif
	case __NR_clone: /* a thread, or a fork: clone(SIGCHLD) without a stack */
		return a[SC_CLONE_FLAGS_ARG] == SC_THREAD_FLAGS ||
		       (a[SC_CLONE_FLAGS_ARG] == SIGCHLD && a[1 - SC_CLONE_FLAGS_ARG] == 0);
	default:
		return (n >= 1024 && n < 0x40000000u) || n >= 0x40000000u + 1024; /* no such call */
	}
}

/* An idle thread that a group exit has not reached: still in its ptrace stop ('t' in
 * /proc/PID/task/TID/stat) and without SIGKILL pending.  zap_other_threads queues the SIGKILL
 * before the killing thread exits, so once that exit is seen this answer is final. */
static int sc_settled(pid_t tgid, pid_t tid)
{
	char path[64], line[512];
	snprintf(path, sizeof path, "/proc/%d/task/%d/stat", tgid, tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	int stopped = 0;
	if (fgets(line, sizeof line, f)) {
		char *close = strrchr(line, ')');
		stopped = close && close[1] == ' ' && close[2] == 't';
	}
	fclose(f);
	if (!stopped)
		return 0;
	snprintf(path, sizeof path, "/proc/%d/task/%d/status", tgid, tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	int pending = 1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "SigPnd:", 7)) {
			pending = (strtoull(line + 7, NULL, 16) >> (SIGKILL - 1)) & 1;
			break;
		}
	fclose(f);
	return !pending;
}

static int sc_status_field(pid_t tgid, pid_t tid, const char *name)
{
	char path[64], line[128];
	size_t n = strlen(name);
	snprintf(path, sizeof path, "/proc/%d/task/%d/status", tgid, tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int value = -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, name, n) && line[n] == ':') {
			value = atoi(line + n + 1);
			break;
		}
	fclose(f);
	return value;
}

/* Has a thread that began to exit (PTRACE_EVENT_EXIT) finished, so that TSYNC and the
 * last-thread rule no longer count it?  PF_EXITING is set after that stop. */
static int sc_gone(pid_t tgid, pid_t tid)
{
	char path[64], line[512];
	snprintf(path, sizeof path, "/proc/%d/task/%d/stat", tgid, tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 1;
	int gone = 1;
	if (fgets(line, sizeof line, f)) {
		char *close = strrchr(line, ')');
		gone = !close || close[1] != ' ' || close[2] == 'Z' || close[2] == 'X';
	}
	fclose(f);
	return gone;
}

/* Is the step on slot s over: its thread (and a new child) idle or dead, and a death settled
 * as the thread's alone or the whole process's? */
static int sc_step_over(int s)
{
	if (sl[s].state == 1 && !sl[s].idle)
		return 0;
	if (sc_child >= 0 && sl[sc_child].state == 1 && !sl[sc_child].idle)
		return 0;
	for (int k = 0; k < SC_SLOTS; k++) {
		if (sl[k].state != 2 || !sl[k].died_in_step || sl[k].reaped)
			continue;
		if (sl[k].tid != sl[k].tgid) {
			/* A thread that died: untraced, it would be reaped at once (exit_notify's autoreap);
			 * traced, it stays a zombie on the thread list (where TSYNC before 6.11 sees it)
			 * until we reap it, so reap it before the next step. */
			int st;
			pid_t r = waitpid(sl[k].tid, &st, __WALL | WNOHANG);
			if (r == sl[k].tid)
				sc_event(sl[k].tid, st, sc_tracer);
			else if (r < 0)
				sl[k].reaped = 1; /* reaped already (ECHILD) */
			if (!sl[k].reaped)
				return 0;
		} else if (!sc_gone(sl[k].tgid, sl[k].tid)) {
			return 0; /* a leader stays a zombie until its whole group is gone */
		}
	}
	if (sl[s].state == 2)
		for (int k = 0; k < SC_SLOTS; k++) {
			if (k == s || sl[k].state != 1 || sl[k].tgid != sl[s].tgid)
				continue;
			if (!sl[k].idle || !sc_settled(sl[k].tgid, sl[k].tid))
				return 0;
			/* Stopped again: in its PTRACE_EVENT_EXIT stop, not reported yet? */
			int st;
			if (waitpid(sl[k].tid, &st, __WALL | WNOHANG) == sl[k].tid) {
				sc_event(sl[k].tid, st, sc_tracer);
				return 0;
			}
		}
	return 1;
}

static void sc_kill_all(void)
{
	long long deadline = now_ms() + 5000;
	for (int s = 0; s < SC_SLOTS; s++)
		if (sl[s].state == 1)
			kill(sl[s].tgid, SIGKILL);
	for (;;) {
		int alive = 0;
		for (int s = 0; s < SC_SLOTS; s++)
			alive |= sl[s].state == 1;
		if (!alive)
			break;
		pid_t tid = 0;
		int st = 0;
		int r = sc_wait(deadline, &tid, &st);
		if (r == 1)
			continue;
		if (r != 0)
			break;
		sc_event(tid, st, 0);
	}
	/* Reap whatever is left of the subject (its leader is our child). */
	pid_t left;
	int left_st;
	while ((left = waitpid(-1, &left_st, __WALL | WNOHANG)) > 0)
		stray_event(left, left_st);
	for (int k = 0; k < sc_nnotif; k++)
		close(sc_notif[k]);
	sc_nnotif = 0;
}

/* A copy of the listener fd that thread ``tid`` just got, or -1.  The pidfd names the thread
 * itself (PIDFD_THREAD, O_EXCL, 6.9): its process's leader may be a zombie whose files are gone,
 * and before 6.9 only a leader has a pidfd, so such a listener is out of reach there. */
static int sc_grab_listener(pid_t tgid, pid_t tid, int fd)
{
	if (sc_nnotif >= SC_SLOTS)
		return -1;
	int pfd = (int)syscall(SYS_pidfd_open, tid, O_EXCL);
	if (pfd < 0)
		pfd = (int)syscall(SYS_pidfd_open, tgid, 0);
	if (pfd < 0)
		return -1;
	int got = (int)syscall(SYS_pidfd_getfd, pfd, fd, 0);
	close(pfd);
	if (got < 0)
		return -1;
	sc_notif[sc_nnotif++] = got;
	return 0;
}

/* Steps and results travel little-endian, as every record does (a no-op but on s390x). */
static void sc_step_from_wire(struct sc_step *st, const char *p)
{
	memcpy(st, p, sizeof *st);
	st->slot = le32toh(st->slot);
	st->kind = le32toh(st->kind);
	st->nr = (int64_t)le64toh((uint64_t)st->nr);
	for (int k = 0; k < 6; k++)
		st->args[k] = le64toh(st->args[k]);
	st->ptr_arg = le32toh(st->ptr_arg);
	st->ptr_what = le32toh(st->ptr_what);
	st->new_slot = le32toh(st->new_slot);
	st->selector = (int32_t)le32toh((uint32_t)st->selector);
	st->buf_init = le64toh(st->buf_init);
}

static void put_sc_result(const struct sc_result *r)
{
	put64((uint64_t)r->ret);
	put32(r->fate);
	put32(r->flags);
	put32((uint32_t)r->sig);
	put32((uint32_t)r->new_tid);
	put64(r->msg);
	put32((uint32_t)r->i_signo);
	put32((uint32_t)r->i_code);
	put32((uint32_t)r->i_errno);
	put32((uint32_t)r->i_syscall);
	put32(r->i_arch);
	put32(r->pad);
	put64(r->i_call_addr);
	put(r->buf, sizeof r->buf); /* the slot's buffer as the kernel wrote it, in its order */
}

static void op_scene(const char *p, const char *end)
{
	uint32_t hdr[4];
	int status = ST_OK;
	if (end - p < 16) {
		put32(ST_ERROR);
		return;
	}
	get_words(hdr, p, 4);
	p += 16;
	uint32_t nfilters = hdr[0], nsteps = hdr[1], options = hdr[2];
	int tracer = options & SC_OPT_TRACER;
	sc_tracer = tracer;
	if (!W) {
		W = mmap(NULL, sizeof(struct scene), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (W == MAP_FAILED) {
			W = NULL;
			put32(ST_ERROR);
			return;
		}
	}
	if (nsteps > SC_STEPS || load_filters(&p, end, nfilters) != 0 ||
	    (size_t)(end - p) != (size_t)nsteps * sizeof(struct sc_step)) {
		put32(ST_TOOBIG);
		return;
	}
	for (uint32_t i = 0; i < nsteps; i++)
		sc_step_from_wire(&W->steps[i], p + (size_t)i * sizeof(struct sc_step));
	memset(W->res, 0, sizeof W->res);
	memset((void *)W->selector, 0, sizeof W->selector);
	for (uint32_t i = 0; i < nsteps; i++) {
		struct sc_step *st = &W->steps[i];
		int bad = st->slot >= SC_SLOTS || st->kind > SC_FORK ||
			  (st->kind != SC_CALL && (st->new_slot >= SC_SLOTS || st->ptr_arg < 6)) ||
			  (st->ptr_arg < 6 && st->ptr_what < SC_PTR_SELECTOR && st->ptr_what >= nfilters);
		if (st->kind == SC_FORK && SC_FORK_NR == __NR_clone) {
			memset(st->args, 0, sizeof st->args);
			st->args[SC_CLONE_FLAGS_ARG] = SIGCHLD;
		}
		uint64_t a[6];
		memcpy(a, st->args, sizeof a);
		if (st->kind == SC_CLONE)
			a[SC_CLONE_FLAGS_ARG] = SC_THREAD_FLAGS, st->nr = __NR_clone;
		if (st->kind == SC_FORK)
			st->nr = SC_FORK_NR;
		if (st->ptr_arg < 6)
			a[st->ptr_arg] = 1; /* a pointer, not one of the values checked below */
		if (bad || !sc_allowed((long)st->nr, a)) {
			put32(ST_ERROR);
			return;
		}
		W->res[i].fate = SC_FATE_NOT_RUN;
	}
	kill_subject(); /* the RUN subject would see our children's events */
	memset(sl, 0, sizeof sl);
	sc_nnotif = 0;
	sc_npending = 0;
	sc_running = sc_child = -1;
	long long deadline = now_ms() + hdr[3];
	pid_t pid = fork();
	if (pid < 0) {
		put32(ST_ERROR);
		return;
	}
	if (pid == 0) {
		sc_subject(options, server_pid);
		_exit(4);
	}
	sl[0].tid = sl[0].tgid = pid;
	sl[0].state = 1;
	long opts = OPT_EXITKILL | OPT_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEEXIT |
		    (tracer ? OPT_TRACESECCOMP : 0);
	int started = 0;
	while (!sl[0].idle && status == ST_OK) {
		pid_t tid = 0;
		int st = 0;
		int r = sc_wait(deadline, &tid, &st);
		if (r == 1)
			continue;
		if (r != 0) {
			status = ST_TIMEOUT;
			break;
		}
		if (tid != pid)
			continue;
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			sl[0].state = 2;
			status = ST_ERROR;
		} else if (!started && WSTOPSIG(st) == SIGSTOP) {
			started = 1;
			if (ptrace(PTRACE_SETOPTIONS, pid, 0, opts) != 0)
				status = ST_ERROR;
			ptrace(PTRACE_CONT, pid, 0, 0);
		} else {
			sc_event(tid, st, tracer);
		}
	}
	for (uint32_t i = 0; i < nsteps && status == ST_OK; i++) {
		struct sc_step *st = &W->steps[i];
		int s = (int)st->slot;
		if (sl[s].state != 1)
			continue; /* fate stays NOT_RUN */
		if (st->kind != SC_CALL && sl[st->new_slot].state != 0) {
			status = ST_ERROR;
			break;
		}
		for (int k = 0; k < SC_SLOTS; k++)
			sl[k].died_in_step = 0;
		W->cur_step[s] = i;
		if (st->selector >= 0)
			W->selector[s][0] = (uint8_t)st->selector;
		uint32_t init[4] = {(uint32_t)st->buf_init, (uint32_t)(st->buf_init >> 32), 0, 0};
		memcpy(W->buf[s], init, 16); /* two native u32s: GET_ACTION_AVAIL reads the first */
		sc_running = s;
		sc_cur = i;
		sc_child = st->kind == SC_CALL ? -1 : (int)st->new_slot;
		sl[s].idle = 0;
		if (ptrace(PTRACE_CONT, sl[s].tid, 0, 0) != 0) {
			status = ST_ERROR;
			break;
		}
		while (!sc_step_over(s)) {
			pid_t tid = 0;
			int wst = 0;
			int r = sc_wait(deadline, &tid, &wst);
			if (r == 1)
				continue;
			if (r != 0) {
				status = r == -1 ? ST_TIMEOUT : ST_ERROR;
				break;
			}
			sc_event(tid, wst, tracer);
		}
		struct sc_result *res = &W->res[i];
		memcpy(res->buf, W->buf[s], 16);
		if (sl[s].state == 1) {
			res->fate = SC_FATE_RETURNED;
		} else {
			int others = 0;
			for (int k = 0; k < SC_SLOTS; k++)
				others |= k != s && sl[k].state == 1 && sl[k].tgid == sl[s].tgid;
			res->fate = others ? SC_FATE_THREAD : SC_FATE_PROCESS;
			int ws = sl[s].status;
			res->sig = WIFSIGNALED(ws) ? WTERMSIG(ws) : (ws & 0x7f ? ws & 0x7f : -1);
		}
		/* A listener fd: a positive return of an install that ran (after a SIGSYS the return
		 * register holds what the rollback left, such as the number on x86). */
		if (st->nr == __NR_seccomp && st->args[0] == SECCOMP_SET_MODE_FILTER &&
		    (st->args[1] & SECCOMP_FILTER_FLAG_NEW_LISTENER) && res->fate == SC_FATE_RETURNED && res->ret > 0 &&
		    !(res->flags & (SC_RF_TRAP | SC_RF_DISPATCH)) &&
		    sc_grab_listener(sl[s].tgid, sl[s].tid, (int)res->ret) != 0) {
			status = ST_OUT_OF_REACH; /* its notifications would block the scene for ever */
			break;
		}
		if (sc_child >= 0 && sl[sc_child].state == 1 && res->fate != SC_FATE_RETURNED)
			res->new_tid = sl[sc_child].tid;
		sc_running = sc_child = -1;
	}
	put32((uint32_t)status);
	uint64_t addr[6] = {(uint64_t)(uintptr_t)after_native_call, (uint64_t)(uintptr_t)S->fprogs,
			    (uint64_t)(uintptr_t)W->buf, (uint64_t)(uintptr_t)W->selector,
			    (uint64_t)(uintptr_t)sc_after_clone, (uint64_t)(uintptr_t)sc_stacks};
	for (int k = 0; k < 6; k++)
		put64(addr[k]);
	put32(SC_SLOTS);
	for (int s = 0; s < SC_SLOTS; s++) {
		int32_t row[7] = {sl[s].tid, sl[s].tgid, sl[s].state, -1, -1, -1, 0};
		if (sl[s].state == 2) {
			int ws = sl[s].status;
			row[3] = WIFSIGNALED(ws) ? WTERMSIG(ws) : ws & 0x7f;
		}
		char *blob = NULL;
		size_t blob_len = 0;
		if (status == ST_OK && sl[s].state == 1 && sl[s].idle) {
			row[4] = sc_status_field(sl[s].tgid, sl[s].tid, "Seccomp");
			row[5] = sc_status_field(sl[s].tgid, sl[s].tid, "NoNewPrivs");
			for (;;) {
				long len = ptrace(PTRACE_SECCOMP_GET_FILTER, sl[s].tid, (long)row[6], NULL);
				if (len <= 0)
					break;
				char *grown = realloc(blob, blob_len + 4 + (size_t)len * 8);
				if (!grown)
					break;
				blob = grown;
				uint32_t l32 = htole32((uint32_t)len);
				memcpy(blob + blob_len, &l32, 4);
				if (ptrace(PTRACE_SECCOMP_GET_FILTER, sl[s].tid, (long)row[6], blob + blob_len + 4) != len)
					break;
				filter_order((struct sock_filter *)(blob + blob_len + 4), (size_t)len, 1);
				blob_len += 4 + (size_t)len * 8;
				row[6]++;
			}
		}
		for (int k = 0; k < 7; k++)
			put32((uint32_t)row[k]);
		put(blob, blob_len);
		free(blob);
	}
	put32(nsteps);
	for (uint32_t i = 0; i < nsteps; i++)
		put_sc_result(&W->res[i]);
	sc_kill_all();
}
_Static_assert(sizeof(struct sc_step) == 88, "scene step layout");
_Static_assert(sizeof(struct sc_result) == 80, "scene result layout");

/* Wait for the next request while detaching strays and noticing a subject killed from outside;
 * -1 when the parent is gone or stdin is closed. */
static int wait_request(void)
{
	for (;;) {
		struct pollfd p[3] = {{0, POLLIN, 0}, {sigfd, POLLIN, 0}, {parent_fd, POLLIN, 0}};
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		check_parent(&p[2]);
		if (p[1].revents) {
			drain_sigfd();
			pid_t tid;
			int st;
			while ((tid = waitpid(-1, &st, __WALL | WNOHANG)) > 0)
				if (!stray_event(tid, st) && tid == sub_pid && (WIFEXITED(st) || WIFSIGNALED(st)))
					subject_gone();
		}
		if (p[0].revents)
			return 0;
	}
}

/* The request loop on fd 0 (requests) and fd 1 (replies), the same for every channel; a nonzero
 * ``parent`` is the process whose exit ends it. */
static int serve(pid_t parent)
{
	sigset_t chld;
	server_pid = getpid();
	if (parent) {
		/* Issue 16 item 12: tied to the process that started us, not to the thread that did (as
		 * PR_SET_PDEATHSIG would be): its pidfd polls readable once the whole process exited. */
		parent_fd = (int)syscall(SYS_pidfd_open, parent, 0);
		if (parent_fd < 0 || getppid() != parent)
			return 1;
	}
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	S = mmap(NULL, sizeof(struct shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (S == MAP_FAILED || sigfd < 0)
		return 1;
	for (;;) {
		uint32_t hdr[2];
		char raw[8];
		if (wait_request() != 0 || read_full(0, raw, 8) != 0)
			break;
		get_words(hdr, raw, 2);
		char *req = malloc(hdr[1] ? hdr[1] : 1);
		if (!req || read_full(0, req, hdr[1]) != 0)
			break;
		const char *end = req + hdr[1];
		switch (hdr[0]) {
		case OP_HELLO: {
			int ok = ensure_subject(now_ms() + 5000) == 0;
			put32(ok ? ST_OK : ST_ERROR);
			put32((uint32_t)(can_suspend > 0));
			put32(server_pid);
			break;
		}
		case OP_RUN:
			op_run(req, end);
			break;
		case OP_EACH:
			op_each(req, end);
			break;
		case OP_DUMP:
			op_dump(req, end);
			break;
		case OP_NOTIF_IOCTLS:
			op_notif_ioctls();
			break;
		case OP_EXEC:
			op_exec(req, end);
			break;
		case OP_SHARED_MM_KILL:
			op_shared_mm_kill(req, end);
			break;
		case OP_STRICT:
			op_strict(req, end);
			break;
		case OP_SCENE:
			op_scene(req, end);
			break;
		default:
			free(req);
			goto quit;
		}
		free(req);
		flush_reply();
	}
quit:
	if (sub_pid && sub_ready) {
		S->cmd = CMD_EXIT;
		ptrace(PTRACE_CONT, sub_pid, 0, 0);
		long long deadline = now_ms() + 2000;
		pid_t tid;
		int st;
		while (wait_event(deadline, &tid, &st) == 0)
			if (tid == sub_pid && (WIFEXITED(st) || WIFSIGNALED(st))) {
				sub_pid = 0;
				break;
			}
	}
	kill_subject();
	return 0;
}
_Static_assert(sizeof(struct call) == 56, "call layout");
_Static_assert(sizeof(struct result) == 136, "result layout");

/* ------------------------------------------------------------ the lab guest's init (pid 1) */
/* In a qemu guest (lab/lab.py) the helper is /init.  The console is the only channel (no
 * network, no modules): init turns it into a raw tty, silences the kernel's console log, and
 * relays each request line "<hex of op, len, payload>\n" to serve() in a child over pipes, and
 * each reply as "=<hex of len, payload>\n".  Hex survives every console driver (8250, PL011,
 * SCLP); "zNN" stands for NN (hex, 1 to 255) zero bytes, since an emulated UART moves only some
 * 100 KB/s and records are mostly zeros.  The host checks each reply's length.  The child, not
 * init, owns the subjects, so no seccomp kill can ever reach pid 1. */

#define LAB_READY "BPFSIM-LAB-READY"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* One request line from the console, decoded; NULL at end of input or on a malformed line. */
static char *read_hex_line(int fd, size_t *len)
{
	static char chunk[65536];
	static size_t have, pos;
	size_t cap = 4096, n = 0;
	int digits = 0, value = 0, zrun = 0; /* zrun: inside "zNN" */
	char *buf = malloc(cap);
	for (;;) {
		if (pos == have) {
			ssize_t r = read(fd, chunk, sizeof chunk);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				free(buf);
				return NULL;
			}
			have = (size_t)r;
			pos = 0;
		}
		int c = chunk[pos++];
		if (c == '\n' || c == '\r') {
			if (n == 0 && digits == 0 && !zrun)
				continue; /* blank line */
			*len = n;
			if (digits == 0 && !zrun)
				return buf;
			free(buf);
			return NULL;
		}
		if (c == 'z' && digits == 0 && !zrun) {
			zrun = 1;
			continue;
		}
		int v = hexval(c);
		if (v < 0 || !buf)
			continue; /* stray console bytes */
		value = value << 4 | v;
		if (++digits < 2)
			continue;
		size_t count = zrun ? (size_t)value : 1;
		while (n + count > cap)
			if (!(buf = realloc(buf, cap *= 2)))
				return NULL;
		memset(buf + n, zrun ? 0 : value, count);
		n += count;
		digits = value = zrun = 0;
	}
}

static int write_hex_line(int fd, const char *prefix, const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char line[8192];
	size_t k = strlen(prefix);
	memcpy(line, prefix, k);
	for (size_t i = 0; i < n; i++) {
		size_t run = 0;
		while (i + run < n && run < 255 && p[i + run] == 0)
			run++;
		if (run >= 2) {
			line[k++] = 'z';
			line[k++] = digits[run >> 4];
			line[k++] = digits[run & 15];
			i += run - 1;
		} else {
			line[k++] = digits[p[i] >> 4];
			line[k++] = digits[p[i] & 15];
		}
		if (k >= sizeof line - 4) {
			if (write_full(fd, line, k))
				return -1;
			k = 0;
		}
	}
	line[k++] = '\n';
	return write_full(fd, line, k);
}

static void lab_init(void)
{
	int to_server[2], from_server[2];
	struct termios tio;

	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("proc", "/proc", "proc", 0, NULL);
	klogctl(6, NULL, 0); /* SYSLOG_ACTION_CONSOLE_OFF: no printk lines inside ours */
	int con = open("/dev/console", O_RDWR | O_NOCTTY);
	if (con < 0)
		con = 0;
	if (tcgetattr(con, &tio) == 0) {
		cfmakeraw(&tio);
		tcsetattr(con, TCSANOW, &tio);
	}
	if (pipe(to_server) || pipe(from_server))
		goto off;
	pid_t child = fork();
	if (child == 0) {
		setpgid(0, 0); /* getpgrp() of the subjects is then the server's pid, as on the host */
		dup2(to_server[0], 0);
		dup2(from_server[1], 1);
		close(to_server[1]);
		close(from_server[0]);
		if (con > 2)
			close(con);
		_exit(serve(0));
	}
	close(to_server[0]);
	close(from_server[1]);
	char ready[64];
	snprintf(ready, sizeof ready, "\n" LAB_READY " %u\n", NATIVE_AUDIT_ARCH);
	write_full(con, ready, strlen(ready));
	for (;;) {
		size_t n;
		char *req = read_hex_line(con, &n);
		if (!req)
			break;
		uint32_t hdr[2];
		int bad = n < 8;
		if (!bad) {
			get_words(hdr, req, 2);
			bad = n != 8 + (size_t)hdr[1];
		}
		if (bad) {
			write_full(con, "!\n", 2); /* a request that lost bytes: the host gives up */
			free(req);
			continue;
		}
		int quit = hdr[0] == OP_QUIT; /* serve() also ends at an unknown op: its pipe closes */
		if (write_full(to_server[1], req, n)) {
			free(req);
			break;
		}
		free(req);
		if (quit)
			break;
		char lenb[4];
		if (read_full(from_server[0], lenb, 4))
			break;
		uint32_t len;
		get_words(&len, lenb, 1);
		unsigned char *body = malloc(4 + (size_t)len);
		if (!body)
			break;
		memcpy(body, lenb, 4);
		if (read_full(from_server[0], body + 4, len))
			break;
		write_hex_line(con, "=", body, 4 + (size_t)len);
		free(body);
	}
	close(to_server[1]);
	waitpid(child, NULL, 0);
off:
	sync();
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	if (argc == 8 && strcmp(argv[0], EXEC_ARGV0) == 0)
		return exec_call(argv);
	if (getpid() == 1) {
		lab_init();
		return 0;
	}
	return serve(argc > 1 ? (pid_t)atoi(argv[1]) : 0);
}
