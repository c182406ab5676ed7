#include "spec.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* A cursor over the description; every read checks the bytes that are left. */
struct reader {
  const unsigned char *data;
  size_t left;
};

/* Each string is a 32-bit little-endian length followed by that many bytes. */
static enum spec_result read_bytes(struct reader *r, char **out, size_t *len_out, int allow_nul)
{
  if (r->left < 4)
    return SPEC_ERR_TRUNCATED;
  uint32_t len = (uint32_t)r->data[0] | (uint32_t)r->data[1] << 8 | (uint32_t)r->data[2] << 16 |
                 (uint32_t)r->data[3] << 24;
  r->data += 4;
  r->left -= 4;
  if (len > r->left)
    return len > SPEC_MAX_BYTES ? SPEC_ERR_STRING_TOO_LONG : SPEC_ERR_TRUNCATED;
  if (!allow_nul && memchr(r->data, '\0', len))
    return SPEC_ERR_NUL_IN_STRING;
  char *copy = xcalloc(1, (size_t)len + 1);
  memcpy(copy, r->data, len);
  r->data += len;
  r->left -= len;
  *out = copy;
  if (len_out)
    *len_out = len;
  return SPEC_OK;
}

static enum spec_result read_string(struct reader *r, char **out)
{
  return read_bytes(r, out, NULL, 0);
}

static enum spec_result read_number(struct reader *r, unsigned long max, int base, unsigned long *out)
{
  char *text;
  enum spec_result res = read_string(r, &text);
  if (res != SPEC_OK)
    return res;
  char *end;
  errno = 0;
  unsigned long value = strtoul(text, &end, base);
  int bad = errno || !*text || *end || text[0] == '-' || value > max;
  free(text);
  if (bad)
    return SPEC_ERR_BAD_NUMBER;
  *out = value;
  return SPEC_OK;
}

static enum spec_result read_flag(struct reader *r, int *out)
{
  unsigned long value;
  enum spec_result res = read_number(r, 1, 10, &value);
  *out = (int)value;
  return res;
}

/* Targets are joined to the root by string, so they must not climb out of it. */
static int is_clean_absolute(const char *path)
{
  if (path[0] != '/')
    return 0;
  for (const char *p = path; *p;) {
    while (*p == '/')
      p++;
    const char *end = strchrnul(p, '/');
    size_t n = (size_t)(end - p);
    if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
      return 0;
    p = end;
  }
  return 1;
}

static enum spec_result push_string(char ***list, size_t *count, char *value)
{
  if (*count + 1 >= SPEC_MAX_ITEMS)
    return SPEC_ERR_TOO_MANY_ITEMS;
  char **grown = realloc(*list, (*count + 2) * sizeof(char *));
  if (!grown)
    die("out of memory");
  grown[(*count)++] = value;
  grown[*count] = NULL;
  *list = grown;
  return SPEC_OK;
}

static enum spec_result read_entry(struct reader *r, const char *key, struct root_entry *e)
{
  enum spec_result res;
  unsigned long mode;
  char *text;
  if ((res = read_string(r, &e->target)) != SPEC_OK)
    return res;
  if (!is_clean_absolute(e->target) || strcmp(e->target, "/") == 0)
    return SPEC_ERR_BAD_TARGET;
  if (strcmp(key, "dir") == 0 || strcmp(key, "disk-dir") == 0 || strcmp(key, "view-dir") == 0) {
    e->kind = ENTRY_DIR;
    e->on_disk = strcmp(key, "dir") != 0;
    if ((res = read_number(r, 07777, 8, &mode)) != SPEC_OK)
      return res;
    e->mode = (mode_t)mode;
    if ((res = read_string(r, &text)) != SPEC_OK)
      return res;
    if (!strcmp(text, "root"))
      e->owner = OWNER_ROOT;
    else if (!strcmp(text, "build"))
      e->owner = OWNER_BUILD;
    else if (!strcmp(text, "group"))
      e->owner = OWNER_GROUP;
    else
      res = SPEC_ERR_BAD_VALUE;
    free(text);
    if (res != SPEC_OK)
      return res;
    if (strcmp(key, "view-dir") == 0) {
      if ((res = read_string(r, &e->source)) != SPEC_OK)
        return res;
      if (!is_clean_absolute(e->source) || strcmp(e->source, "/") == 0)
        return SPEC_ERR_BAD_VALUE;
    }
  } else if (strcmp(key, "file") == 0) {
    e->kind = ENTRY_FILE;
    if ((res = read_number(r, 0777, 8, &mode)) != SPEC_OK)
      return res;
    e->mode = (mode_t)mode;
    if ((res = read_bytes(r, &e->content, &e->content_len, 1)) != SPEC_OK)
      return res;
  } else {
    e->kind = ENTRY_BIND;
    if ((res = read_string(r, &e->source)) != SPEC_OK)
      return res;
    if (e->source[0] != '/')
      return SPEC_ERR_BAD_VALUE;
    if ((res = read_string(r, &text)) != SPEC_OK)
      return res;
    for (const char *f = text; *f; f++) {
      if (*f == 'w')
        e->writable = 1;
      else if (*f == 'o')
        e->optional = 1;
      else if (*f == 'n')
        e->nofollow = 1;
      else if (*f != 'r')
        return SPEC_ERR_BAD_VALUE;
    }
    free(text);
  }
  return SPEC_OK;
}

/* "store-bind NAME": the store path NAME bound read-only at its logical place, a symlink shown
   as such (as "bind" with flags "rn"), for the store directories given by "store-dirs". The
   usual entry, a few hundred of them in a deep build: a third of the bytes of "bind". */
static enum spec_result read_store_bind(struct reader *r, struct sandbox_spec *s, struct root_entry *e)
{
  char *name;
  enum spec_result res = read_string(r, &name);
  if (res != SPEC_OK)
    return res;
  int bad = !s->store_dir || name[0] == '\0' || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..");
  if (!bad) {
    e->kind = ENTRY_BIND;
    e->target = xasprintf("%s/%s", s->store_dir, name);
    e->source = xasprintf("%s/%s", s->real_store_dir, name);
    e->nofollow = 1;
  }
  free(name);
  return bad ? SPEC_ERR_BAD_VALUE : SPEC_OK;
}

static enum spec_result read_field(struct reader *r, const char *key, struct sandbox_spec *s,
                                   size_t *argc, size_t *envc)
{
  unsigned long n;
  enum spec_result res;
  char *text;
  if (!strcmp(key, "store-dirs")) {
    free(s->store_dir);
    free(s->real_store_dir);
    s->store_dir = s->real_store_dir = NULL;
    if ((res = read_string(r, &s->store_dir)) != SPEC_OK || (res = read_string(r, &s->real_store_dir)) != SPEC_OK)
      return res;
    return is_clean_absolute(s->store_dir) && strcmp(s->store_dir, "/") && s->real_store_dir[0] == '/' ? SPEC_OK
                                                                                                          : SPEC_ERR_BAD_VALUE;
  }
  if (!strcmp(key, "dir") || !strcmp(key, "disk-dir") || !strcmp(key, "view-dir") || !strcmp(key, "file") ||
      !strcmp(key, "bind") || !strcmp(key, "store-bind")) {
    if (s->entry_count + 1 >= SPEC_MAX_ITEMS)
      return SPEC_ERR_TOO_MANY_ITEMS;
    struct root_entry *grown = realloc(s->entries, (s->entry_count + 1) * sizeof *grown);
    if (!grown)
      die("out of memory");
    s->entries = grown;
    memset(&grown[s->entry_count], 0, sizeof *grown);
    struct root_entry *e = &s->entries[s->entry_count++];
    return !strcmp(key, "store-bind") ? read_store_bind(r, s, e) : read_entry(r, key, e);
  }
  if (!strcmp(key, "namespaces"))
    return read_flag(r, &s->namespaces);
  if (!strcmp(key, "uname26"))
    return read_flag(r, &s->uname26);
  if (!strcmp(key, "build-uid") || !strcmp(key, "sandbox-uid") || !strcmp(key, "build-gid") ||
      !strcmp(key, "sandbox-gid")) {
    if ((res = read_number(r, 0xfffffffeul, 10, &n)) != SPEC_OK)
      return res;
    if (!strcmp(key, "build-uid"))
      s->build_uid = (uid_t)n;
    else if (!strcmp(key, "sandbox-uid"))
      s->sandbox_uid = (uid_t)n;
    else if (!strcmp(key, "build-gid"))
      s->build_gid = (gid_t)n;
    else
      s->sandbox_gid = (gid_t)n;
    return SPEC_OK;
  }
  if (!strcmp(key, "network")) {
    if ((res = read_string(r, &text)) != SPEC_OK)
      return res;
    if (!strcmp(text, "private"))
      s->network = NETWORK_PRIVATE;
    else if (!strcmp(text, "pasta"))
      s->network = NETWORK_PASTA;
    else if (!strcmp(text, "host"))
      s->network = NETWORK_HOST;
    else
      res = SPEC_ERR_BAD_VALUE;
    free(text);
    return res;
  }
  char **slot = !strcmp(key, "root")         ? &s->root
                : !strcmp(key, "pasta")      ? &s->pasta
                : !strcmp(key, "hostname")   ? &s->hostname
                : !strcmp(key, "domainname") ? &s->domainname
                : !strcmp(key, "cwd")        ? &s->cwd
                : !strcmp(key, "program")    ? &s->program
                : !strcmp(key, "mounter")    ? &s->mounter
                                             : NULL;
  if (slot) {
    free(*slot);
    return read_string(r, slot);
  }
  if (!strcmp(key, "arg") || !strcmp(key, "env")) {
    if ((res = read_string(r, &text)) != SPEC_OK)
      return res;
    if (!strcmp(key, "arg"))
      return push_string(&s->argv, argc, text);
    if (!strchr(text, '='))
      return SPEC_ERR_BAD_VALUE;
    return push_string(&s->envp, envc, text);
  }
  return SPEC_ERR_UNKNOWN_KEY;
}

enum spec_result spec_parse(const unsigned char *data, size_t len, struct sandbox_spec *s,
                            const char **what)
{
  struct reader r = {data, len};
  size_t argc = 0, envc = 0;
  char *key = NULL;
  enum spec_result res;
  memset(s, 0, sizeof *s);
  s->namespaces = 1;
  s->sandbox_uid = 1000;
  s->sandbox_gid = 100;
  s->build_uid = getuid();
  s->build_gid = getgid();
  s->cwd = xasprintf("/");
  *what = "magic";
  if ((res = read_string(&r, &key)) != SPEC_OK)
    return res;
  if (strcmp(key, SPEC_MAGIC) != 0)
    return SPEC_ERR_BAD_MAGIC;
  while (r.left > 0) {
    free(key);
    *what = "key";
    if ((res = read_string(&r, &key)) != SPEC_OK)
      return res;
    *what = key;
    if ((res = read_field(&r, key, s, &argc, &envc)) != SPEC_OK)
      return res;
  }
  *what = !s->program ? "program" : !argc ? "arg" : (s->namespaces && !s->root) ? "root" : NULL;
  if (*what)
    return SPEC_ERR_MISSING_FIELD;
  if (!s->envp)
    s->envp = xcalloc(1, sizeof(char *));
  if (!s->hostname)
    s->hostname = xasprintf("localhost");
  if (!s->domainname)
    s->domainname = xasprintf("(none)");
  free(key);
  return SPEC_OK;
}

const char *spec_result_message(enum spec_result result)
{
  switch (result) {
  case SPEC_OK: return "ok";
  case SPEC_ERR_TRUNCATED: return "the description ends in the middle of a field";
  case SPEC_ERR_BAD_MAGIC: return "the description does not start with " SPEC_MAGIC;
  case SPEC_ERR_STRING_TOO_LONG: return "a string is longer than the description allows";
  case SPEC_ERR_NUL_IN_STRING: return "a string contains a NUL byte";
  case SPEC_ERR_TOO_MANY_ITEMS: return "too many entries";
  case SPEC_ERR_UNKNOWN_KEY: return "unknown key";
  case SPEC_ERR_BAD_NUMBER: return "not a valid number";
  case SPEC_ERR_BAD_VALUE: return "invalid value";
  case SPEC_ERR_BAD_TARGET: return "the target must be an absolute path without '.' or '..' (and not '/')";
  case SPEC_ERR_MISSING_FIELD: return "required field missing";
  }
  return "unknown error";
}
