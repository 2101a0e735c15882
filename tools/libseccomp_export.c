/* Build one seccomp filter with libseccomp and export it, as a program on this arch would.
 *
 * Collecting aid for tools/compile_policies.py, which links it statically against Debian's
 * libseccomp of each arch and runs it natively or under qemu-user: libseccomp resolves syscall
 * names for the arch it runs on and exports in that arch's byte order, so a big-endian filter is
 * made on a (emulated) big-endian machine, never byte-swapped on a little-endian one.
 *
 *     libseccomp_export OUT.bpf < SPEC
 *
 * SPEC, one directive a line (names are libseccomp's own):
 *     init ACTION                      seccomp_init
 *     arch add|remove NAME             seccomp_arch_add/remove (NAME "native" or seccomp_arch_resolve_name's;
 *                                      adding one already there is a no-op, as libseccomp-golang's AddArch)
 *     attr SCMP_FLTATR_... VALUE       seccomp_attr_set (VALUE a number or an ACTION)
 *     rule ACTION SYSCALL [ARG OP A B]...  seccomp_syscall_resolve_name + seccomp_rule_add_array
 * ACTION is SCMP_ACT_ALLOW, SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP, SCMP_ACT_LOG or
 * SCMP_ACT_ERRNO(N). A rule libseccomp refuses is reported on stdout as "refused NAME errno"
 * and skipped, as runc and systemd skip names unknown to their libseccomp.
 */
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void die(int line, const char *what)
{
	fprintf(stderr, "libseccomp_export: spec line %d: %s\n", line, what);
	exit(2);
}

static int action(const char *text, uint32_t *out)
{
	unsigned int n;
	static const struct { const char *name; uint32_t value; } named[] = {
		{"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW}, {"SCMP_ACT_KILL", SCMP_ACT_KILL},
		{"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS}, {"SCMP_ACT_TRAP", SCMP_ACT_TRAP},
		{"SCMP_ACT_LOG", SCMP_ACT_LOG},
	};
	if (sscanf(text, "SCMP_ACT_ERRNO(%u)", &n) == 1) {
		*out = SCMP_ACT_ERRNO(n);
		return 0;
	}
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (!strcmp(text, named[i].name)) {
			*out = named[i].value;
			return 0;
		}
	return -1;
}

static int compare(const char *text, enum scmp_compare *out)
{
	static const struct { const char *name; enum scmp_compare op; } named[] = {
		{"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_LE", SCMP_CMP_LE},
		{"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
		{"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
	};
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (!strcmp(text, named[i].name)) {
			*out = named[i].op;
			return 0;
		}
	return -1;
}

static int attribute(const char *text, enum scmp_filter_attr *out)
{
	static const struct { const char *name; enum scmp_filter_attr attr; } named[] = {
		{"SCMP_FLTATR_ACT_BADARCH", SCMP_FLTATR_ACT_BADARCH},
		{"SCMP_FLTATR_CTL_OPTIMIZE", SCMP_FLTATR_CTL_OPTIMIZE},
		{"SCMP_FLTATR_CTL_NNP", SCMP_FLTATR_CTL_NNP},
	};
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (!strcmp(text, named[i].name)) {
			*out = named[i].attr;
			return 0;
		}
	return -1;
}

static uint32_t arch_token(int line, const char *name)
{
	uint32_t arch;

	if (!strcmp(name, "native"))
		return seccomp_arch_native();
	arch = seccomp_arch_resolve_name(name);
	if (arch == 0)
		die(line, "unknown arch");
	return arch;
}

int main(int argc, char **argv)
{
	char buf[4096];
	int line = 0, fd;
	scmp_filter_ctx ctx = NULL;

	if (argc != 2) {
		fprintf(stderr, "usage: libseccomp_export OUT.bpf < SPEC\n");
		return 2;
	}
	while (fgets(buf, sizeof(buf), stdin)) {
		char *word[4 + 4 * 6], *save = NULL;
		int n = 0;
		uint32_t act;

		line++;
		for (char *w = strtok_r(buf, " \t\n", &save); w && n < (int)(sizeof(word) / sizeof(word[0]));
		     w = strtok_r(NULL, " \t\n", &save))
			word[n++] = w;
		if (n == 0)
			continue;
		if (!strcmp(word[0], "init") && n == 2 && !ctx) {
			if (action(word[1], &act) || !(ctx = seccomp_init(act)))
				die(line, "seccomp_init failed");
		} else if (!ctx) {
			die(line, "the spec must start with init");
		} else if (!strcmp(word[0], "arch") && n == 3) {
			uint32_t arch = arch_token(line, word[2]);
			int add = !strcmp(word[1], "add");
			int rc = add ? seccomp_arch_add(ctx, arch)
				 : !strcmp(word[1], "remove") ? seccomp_arch_remove(ctx, arch) : -EINVAL;
			if (rc < 0 && !(add && rc == -EEXIST))
				die(line, strerror(-rc));
		} else if (!strcmp(word[0], "attr") && n == 3) {
			enum scmp_filter_attr attr;
			uint32_t value;
			if (attribute(word[1], &attr))
				die(line, "unknown attribute");
			if (action(word[2], &value))
				value = (uint32_t)strtoul(word[2], NULL, 0);
			if (seccomp_attr_set(ctx, attr, value) < 0)
				die(line, "seccomp_attr_set failed");
		} else if (!strcmp(word[0], "rule") && n >= 3 && (n - 3) % 4 == 0) {
			struct scmp_arg_cmp args[6];
			unsigned int count = (n - 3) / 4;
			int nr = seccomp_syscall_resolve_name(word[2]), rc;

			if (action(word[1], &act) || count > 6)
				die(line, "bad rule");
			for (unsigned int i = 0; i < count; i++) {
				char **a = &word[3 + 4 * i];
				args[i].arg = (unsigned int)strtoul(a[0], NULL, 0);
				if (compare(a[1], &args[i].op))
					die(line, "unknown comparison");
				args[i].datum_a = strtoull(a[2], NULL, 0);
				args[i].datum_b = strtoull(a[3], NULL, 0);
			}
			rc = nr == __NR_SCMP_ERROR ? -EDOM : seccomp_rule_add_array(ctx, act, nr, count, args);
			if (rc < 0)
				printf("refused %s %d\n", word[2], -rc);
		} else {
			die(line, "unknown directive");
		}
	}
	if (!ctx)
		die(line, "empty spec");
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || seccomp_export_bpf(ctx, fd) < 0 || close(fd) < 0) {
		fprintf(stderr, "libseccomp_export: cannot export to %s\n", argv[1]);
		return 1;
	}
	seccomp_release(ctx);
	return 0;
}
