/* security.c - the security keys of `run` and `exec`: a capability mask, no_new_privs, rlimits
 * clamped to the shim's own, and a seccomp filter written as classic BPF (no libseccomp):
 *
 *   arch != the build's arch            -> kill the process (x32 on x86_64 too)
 *   nr == <each seccomp_errno nr>       -> errno
 *   nr == <each seccomp_deny nr>        -> EPERM
 *   anything else                       -> allow
 */
#include <limits.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "security.h"
#include "shim.h"
#include "util.h"

#ifndef SECCOMP_RET_KILL_PROCESS
#define SECCOMP_RET_KILL_PROCESS 0x80000000U
#endif

#if defined(__x86_64__)
#define TC_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TC_AUDIT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define TC_AUDIT_ARCH AUDIT_ARCH_I386
#elif defined(__arm__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define TC_AUDIT_ARCH AUDIT_ARCH_ARM
#elif defined(__riscv) && __riscv_xlen == 64
#define TC_AUDIT_ARCH AUDIT_ARCH_RISCV64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define TC_AUDIT_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define TC_AUDIT_ARCH AUDIT_ARCH_S390X
#else
#define TC_AUDIT_ARCH 0 /* unknown: the seccomp keys are refused */
#endif

#define X32_SYSCALL_BIT 0x40000000U
#define MAX_SYSCALL 4095
#define MAX_RULES 2000 /* two instructions each, well within BPF_MAXINSNS (4096) */

/* Docker's 14 (moby daemon/pkg/oci/caps/defaults.go); CapEff of root = 00000000a80425fb. */
static const int docker_caps[] = {
  CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FSETID,  CAP_FOWNER,           CAP_MKNOD,      CAP_NET_RAW, CAP_SETGID,
  CAP_SETUID, CAP_SETFCAP,      CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL,    CAP_AUDIT_WRITE,
};

static const char *const rlimit_names[] = {
  "cpu", "fsize", "data", "stack", "core", "rss", "nproc", "nofile",
  "memlock", "as", "locks", "sigpending", "msgqueue", "nice", "rtprio", "rttime",
};

/* Split @s at @sep into exactly @n non-empty fields, copied into @buf. */
static int
split (const char *s, char sep, char *buf, size_t cap, char **fields, size_t n)
{
  size_t k = 0;
  char *p;

  if (snprintf (buf, cap, "%s", s) >= (int) cap)
    return -1;
  for (p = buf; k < n; p++)
    {
      char *end = strchrnul (p, sep);
      if (end == p || (*end == '\0') != (k == n - 1))
        return -1;
      fields[k++] = p;
      p = end;
      *p = '\0';
    }
  return 0;
}

static int
parse_caps (const char *s, uint64_t *out)
{
  uint64_t v = 0;

  if (strncmp (s, "0x", 2) == 0)
    s += 2;
  if (*s == '\0' || strlen (s) > 16 || s[strspn (s, "0123456789abcdefABCDEF")] != '\0')
    return -1;
  for (; *s; s++)
    v = v << 4 | (uint64_t) (*s <= '9' ? *s - '0' : (*s | 0x20) - 'a' + 10);
  *out = v;
  return 0;
}

static int
prepare_caps (const struct tc_spec *spec, struct tc_security *sec, void (*warn) (const char *), tc_error_t *err)
{
  uint64_t held;
  size_t i;

  if (tc_caps_held (&held, err) < 0)
    return -1;
  if (spec->privileged)
    {
      sec->caps = held;
      return 0;
    }
  for (i = 0, sec->caps = 0; i < ARRAY_SIZE (docker_caps); i++)
    sec->caps |= 1ULL << docker_caps[i];
  if (spec->caps && parse_caps (spec->caps, &sec->caps) < 0)
    return tc_make_error (err, EINVAL, "spec key `caps`: expected a hex mask, got `%s`", spec->caps);
  if (sec->caps & ~held)
    {
      char msg[128];
      snprintf (msg, sizeof msg, "caps: %llx not held by the shim; dropped from the mask",
                (unsigned long long) (sec->caps & ~held));
      warn (msg);
      sec->caps &= held;
    }
  return 0;
}

static void
add_rule (struct sock_filter *f, size_t *n, unsigned long nr, unsigned long errnum)
{
  f[(*n)++] = (struct sock_filter) BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, (uint32_t) nr, 0, 1);
  f[(*n)++] = (struct sock_filter) BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (uint32_t) errnum);
}

static int
build_filter (const struct tc_spec *spec, struct sock_fprog *prog, tc_error_t *err)
{
  size_t rules = spec->seccomp_errno.n, n = 0, i;
  cleanup_free struct sock_filter *f = NULL;
  cleanup_free char *deny = NULL;
  char *tok, *save = NULL;

  if (spec->seccomp_deny)
    for (rules++, tok = (char *) spec->seccomp_deny; (tok = strchr (tok, ',')) != NULL; tok++)
      rules++;
  if (rules == 0)
    return 0;
  if (TC_AUDIT_ARCH == 0)
    return tc_make_error (err, ENOSYS, "spec keys `seccomp_*`: no seccomp support for this architecture");
  if (rules > MAX_RULES)
    return tc_make_error (err, E2BIG, "spec keys `seccomp_*`: %zu rules, at most %d", rules, MAX_RULES);
  f = calloc (2 * rules + 7, sizeof *f);
  deny = strdup (spec->seccomp_deny ? spec->seccomp_deny : "");
  if (f == NULL || deny == NULL)
    return tc_make_error (err, ENOMEM, "seccomp filter");
  f[n++] = (struct sock_filter) BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, arch));
  f[n++] = (struct sock_filter) BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, TC_AUDIT_ARCH, 1, 0);
  f[n++] = (struct sock_filter) BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  f[n++] = (struct sock_filter) BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, nr));
#ifdef __x86_64__
  f[n++] = (struct sock_filter) BPF_JUMP (BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1);
  f[n++] = (struct sock_filter) BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
#endif
  for (i = 0; i < spec->seccomp_errno.n; i++) /* first, so they win over seccomp_deny */
    {
      char buf[64], *nr_errno[2];
      unsigned long nr, e;
      if (split (spec->seccomp_errno.v[i], ':', buf, sizeof buf, nr_errno, 2) < 0
          || tc_parse_ulong (nr_errno[0], MAX_SYSCALL, &nr) < 0 || tc_parse_ulong (nr_errno[1], 4095, &e) < 0 || e == 0)
        return tc_make_error (err, EINVAL, "spec key `seccomp_errno`: expected <nr>:<errno 1-4095>, got `%s`",
                              spec->seccomp_errno.v[i]);
      add_rule (f, &n, nr, e);
    }
  for (tok = strtok_r (deny, ",", &save); tok != NULL; tok = strtok_r (NULL, ",", &save))
    {
      unsigned long nr;
      if (tc_parse_ulong (tok, MAX_SYSCALL, &nr) < 0)
        return tc_make_error (err, EINVAL, "spec key `seccomp_deny`: expected syscall numbers, got `%s`", tok);
      add_rule (f, &n, nr, EPERM);
    }
  f[n++] = (struct sock_filter) BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  prog->len = (unsigned short) n;
  prog->filter = steal_pointer (&f);
  return 0;
}

static void
format_limit (char *out, size_t cap, rlim_t v)
{
  if (v == RLIM_INFINITY)
    snprintf (out, cap, "-1");
  else
    snprintf (out, cap, "%llu", (unsigned long long) v);
}

static int
parse_limit (const char *s, rlim_t *out)
{
  unsigned long v;

  if (strcmp (s, "-1") == 0)
    return *out = RLIM_INFINITY, 0;
  if (tc_parse_ulong (s, ULONG_MAX - 1, &v) < 0 || (rlim_t) v == RLIM_INFINITY)
    return -1;
  return *out = (rlim_t) v, 0;
}

/* `<resource>:<soft>:<hard>`, the hard limit clamped to the shim's own (with a warning); the
 * last entry for a resource wins (applying both in turn could need CAP_SYS_RESOURCE). */
static int
prepare_rlimits (const struct tc_spec *spec, struct tc_security *sec, void (*warn) (const char *), tc_error_t *err)
{
  size_t i;

  sec->rlimits = calloc (spec->rlimit.n + 1, sizeof *sec->rlimits);
  if (sec->rlimits == NULL)
    return tc_make_error (err, ENOMEM, "rlimits");
  for (i = 0; i < spec->rlimit.n; i++)
    {
      struct tc_rlimit *r;
      char buf[96], *f[3], s0[24], h0[24], s1[24], h1[24], msg[256];
      unsigned long res;
      struct rlimit own, lim;
      size_t k;

      if (split (spec->rlimit.v[i], ':', buf, sizeof buf, f, 3) < 0
          || tc_parse_ulong (f[0], ARRAY_SIZE (rlimit_names) - 1, &res) < 0 || parse_limit (f[1], &lim.rlim_cur) < 0
          || parse_limit (f[2], &lim.rlim_max) < 0 || lim.rlim_cur > lim.rlim_max)
        return tc_make_error (err, EINVAL,
                              "spec key `rlimit`: expected <resource 0-%zu>:<soft>:<hard>, soft <= hard, got `%s`",
                              ARRAY_SIZE (rlimit_names) - 1, spec->rlimit.v[i]);
      for (k = 0; k < sec->nrlimits && sec->rlimits[k].resource != (int) res; k++)
        ;
      r = &sec->rlimits[k];
      sec->nrlimits += k == sec->nrlimits;
      r->resource = (int) res;
      r->lim = lim;
      if (getrlimit (r->resource, &own) < 0)
        return tc_make_error (err, errno, "getrlimit %s", rlimit_names[res]);
      if (r->lim.rlim_max <= own.rlim_max)
        continue;
      format_limit (s0, sizeof s0, r->lim.rlim_cur);
      format_limit (h0, sizeof h0, r->lim.rlim_max);
      r->lim.rlim_max = own.rlim_max;
      if (r->lim.rlim_cur > own.rlim_max)
        r->lim.rlim_cur = own.rlim_max;
      format_limit (s1, sizeof s1, r->lim.rlim_cur);
      format_limit (h1, sizeof h1, r->lim.rlim_max);
      snprintf (msg, sizeof msg, "rlimit %s (%lu) %s:%s clamped to %s:%s, the shim's own hard limit",
                rlimit_names[res], res, s0, h0, s1, h1);
      warn (msg);
    }
  return 0;
}

int
tc_security_prepare (const struct tc_spec *spec, struct tc_security *sec, void (*warn) (const char *msg),
                     tc_error_t *err)
{
  memset (sec, 0, sizeof *sec);
  sec->no_new_privs = spec->no_new_privs != 0;
  if (prepare_caps (spec, sec, warn, err) < 0 || prepare_rlimits (spec, sec, warn, err) < 0)
    return -1;
  return spec->privileged ? 0 : build_filter (spec, &sec->filter, err);
}

int
tc_set_rlimits (const struct tc_security *sec, tc_error_t *err)
{
  size_t i;

  for (i = 0; i < sec->nrlimits; i++)
    if (setrlimit (sec->rlimits[i].resource, &sec->rlimits[i].lim) < 0)
      return tc_make_error (err, errno, "setrlimit %s", rlimit_names[sec->rlimits[i].resource]);
  return 0;
}

int
tc_seccomp_load (const struct tc_security *sec, tc_error_t *err)
{
  if (sec->filter.filter == NULL)
    return 0;
  if (prctl (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &sec->filter, 0, 0) < 0)
    return tc_make_error (err, errno, "prctl PR_SET_SECCOMP (%u instructions)", (unsigned) sec->filter.len);
  return 0;
}
