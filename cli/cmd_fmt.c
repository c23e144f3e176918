/* cmd_fmt.c - `idp fmt [-check] [-diff] [DIR|FILE...]`: rewrite files in the canonical layout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../compiler/diag.h"
#include "../compiler/fmt.h"
#include "../compiler/util.h"
#include "../grammar/parse.h"
#include "cli.h"

/* Formats src into out. Returns 0, or 1 after printing why the file is left alone. The result is
 * parsed again before anyone sees it: it must parse cleanly and keep every comment. */
static int format_source(idp_source *src, idp_buf *out) {
  idp_arena arena;
  idp_diags diags;
  idp_arena_init(&arena);
  idp_diags_init(&diags);
  idp_file *file;
  int rc = 0;
  if (idp_parse(src, &arena, &diags, &file) > 0) {
    idp_diags_print(&diags, stderr);
    rc = 1;
    goto done;
  }
  if (idp_fmt_file(file, out) < 0) {
    fprintf(stderr, "idp fmt: internal error: %s: a comment could not be placed; file left as it is\n",
            src->path);
    rc = 1;
    goto done;
  }
  idp_source *again = idp_source_from_string(src->path, out->data ? out->data : "", out->len);
  idp_arena arena2;
  idp_diags diags2;
  idp_arena_init(&arena2);
  idp_diags_init(&diags2);
  idp_file *file2;
  if (idp_parse(again, &arena2, &diags2, &file2) > 0 || file2->ncomments != file->ncomments ||
      file2->body.n != file->body.n) {
    fprintf(stderr, "idp fmt: internal error: %s: the formatted text does not read back the same; "
                    "file left as it is\n", src->path);
    idp_diags_print(&diags2, stderr);
    rc = 1;
  }
  idp_diags_free(&diags2);
  idp_arena_free(&arena2);
  idp_source_free(again);
done:
  idp_diags_free(&diags);
  idp_arena_free(&arena);
  return rc;
}

/* Prints a unified diff of path against the formatted text, using diff(1). */
static int show_diff(const char *path, const char *data, size_t len) {
  char tmp[] = "/tmp/idp-fmt-XXXXXX";
  int fd = mkstemp(tmp);
  if (fd < 0) return -1;
  int rc = idp_write_all(fd, data, len);
  close(fd);
  if (rc == 0) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      idp_buf a = {0}, b = {0};
      const char *sep = path[0] == '/' ? "" : "/"; /* a/x.idp, but a/tmp/x.idp for /tmp/x.idp */
      idp_buf_printf(&a, "a%s%s", sep, path);
      idp_buf_printf(&b, "b%s%s", sep, path);
      execlp("diff", "diff", "-u", "--label", a.data, "--label", b.data, path, tmp, (char *)NULL);
      _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) > 1) rc = -1;
  }
  unlink(tmp);
  return rc;
}

static idp_source *read_stdin(void) {
  idp_buf b = {0};
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) idp_buf_append(&b, chunk, n);
  idp_source *src = idp_source_from_string("<stdin>", b.data ? b.data : "", b.len);
  idp_buf_free(&b);
  return src;
}

int idp_cmd_fmt(int argc, char **argv) {
  static const char *const flags[] = {"check", "diff", "help"};
  bool check = false, diff = false;
  char **args = argv + 1;
  size_t nargs = 0;
  bool paths_only = false;
  for (int i = 1; i < argc; i++) {
    const char *f = paths_only ? NULL : idp_flag_name(argv[i]);
    if (!f) args[nargs++] = argv[i];
    else if (strcmp(argv[i], "--") == 0) paths_only = true;
    else if (strcmp(f, "check") == 0) check = true;
    else if (strcmp(f, "diff") == 0) diff = true;
    else {
      idp_unknown_flag("fmt", argv[i], flags, sizeof flags / sizeof *flags);
      return IDP_EXIT_USAGE;
    }
  }
  /* `idp fmt -` formats standard input to standard output, for editors. */
  if (nargs == 1 && strcmp(args[0], "-") == 0) {
    idp_source *src = read_stdin();
    idp_buf out = {0};
    int rc = format_source(src, &out);
    if (rc == 0) fwrite(out.data ? out.data : "", 1, out.len, stdout);
    idp_buf_free(&out);
    idp_source_free(src);
    return rc ? IDP_EXIT_ERROR : IDP_EXIT_OK;
  }
  char **paths;
  size_t npaths;
  if (idp_collect_files("fmt", args, nargs, &paths, &npaths) < 0) return IDP_EXIT_ERROR;
  int rc = IDP_EXIT_OK;
  bool changed = false;
  for (size_t i = 0; i < npaths; i++) {
    idp_source *src = idp_source_load(paths[i]);
    if (!src) {
      fprintf(stderr, "idp fmt: error: %s: %s\n", paths[i], strerror(errno));
      rc = IDP_EXIT_ERROR;
      continue;
    }
    idp_buf out = {0};
    if (format_source(src, &out) != 0) {
      rc = IDP_EXIT_ERROR;
    } else if (out.len != src->len || memcmp(out.data ? out.data : "", src->text, src->len) != 0) {
      changed = true;
      if (diff) {
        if (show_diff(paths[i], out.data ? out.data : "", out.len) < 0) {
          fprintf(stderr, "idp fmt: error: %s: could not run diff: %s\n", paths[i], strerror(errno));
          rc = IDP_EXIT_ERROR;
        }
      }
      if (check && !diff) printf("%s\n", paths[i]);
      if (!check && !diff) {
        if (idp_replace_file(paths[i], out.data ? out.data : "", out.len, -1) < 0) {
          fprintf(stderr, "idp fmt: error: %s: %s\n", paths[i], strerror(errno));
          rc = IDP_EXIT_ERROR;
        } else {
          printf("%s\n", paths[i]);
        }
      }
    }
    idp_buf_free(&out);
    idp_source_free(src);
  }
  idp_free_files(paths, npaths);
  if (rc == IDP_EXIT_OK && check && changed) rc = IDP_EXIT_FMT_CHANGES;
  return rc;
}
