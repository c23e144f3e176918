/* placeholder */
typedef int idp_fmt_placeholder;
