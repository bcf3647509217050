/*
 * csvdoc.c - CSV as HR's Excel writes and reads it. Reading: a file of
 * named columns (any order, a header row first) through libcsv, with the
 * checks every upload shares: UTF-8 (a GBK file gets one clear message),
 * a BOM, CRLF, quoted cells, Excel's blank rows, no control characters,
 * required cells and lengths. Problems are listed as {row, column,
 * problem}, rows numbered as Excel numbers them. Writing: UTF-8 with a BOM,
 * CRLF, every text cell quoted and cells that Excel would run as a formula
 * defused.
 */
#include "gongyou.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>

#define MAX_PROBLEMS 200
#define MAX_COLS 16

void csv_problem_add(struct csv_problems *p, long row, const char *column, const char *fmt, ...)
{
    struct csv_problem *q;
    va_list ap;

    if (p->n > MAX_PROBLEMS)
        return;
    p->v = gy_realloc(p->v, (p->n + 1) * sizeof *p->v);
    q = &p->v[p->n++];
    if (p->n > MAX_PROBLEMS) {
        q->row = 0;
        q->column[0] = '\0';
        snprintf(q->problem, sizeof q->problem, "问题太多，只列出前 %d 个；请先改正这些再上传", MAX_PROBLEMS);
        return;
    }
    q->row = row;
    snprintf(q->column, sizeof q->column, "%s", column);
    va_start(ap, fmt);
    vsnprintf(q->problem, sizeof q->problem, fmt, ap);
    va_end(ap);
}

cJSON *csv_problems_json(const struct csv_problems *p)
{
    cJSON *a = cJSON_CreateArray();

    for (size_t i = 0; i < p->n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "row", (double)p->v[i].row);
        cJSON_AddStringToObject(o, "column", p->v[i].column);
        cJSON_AddStringToObject(o, "problem", p->v[i].problem);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

void csv_problems_free(struct csv_problems *p)
{
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

/* ==== reading ==== */

struct reader {
    const struct csv_column *cols;
    int ncols;
    const char *what;
    csv_row_fn *fn;
    void *ctx;
    struct csv_problems *p;
    char **fields;          /* the record being read */
    size_t nfields, cap;
    long record;            /* records seen so far, header included */
    int pos[MAX_COLS];      /* position of each column in the file */
    size_t header_cols;
    bool have_header;
    bool stop;              /* the header is unusable: ignore the rest */
    long rows;              /* data rows seen (blank ones not counted) */
};

static void on_field(void *s, size_t len, void *data)
{
    struct reader *rd = data;

    if (rd->nfields == rd->cap) {
        rd->cap = rd->cap ? rd->cap * 2 : 16;
        rd->fields = gy_realloc(rd->fields, rd->cap * sizeof *rd->fields);
    }
    rd->fields[rd->nfields++] = gy_strndup(s ? s : "", s ? len : 0);
}

static void clear_fields(struct reader *rd)
{
    for (size_t i = 0; i < rd->nfields; i++)
        free(rd->fields[i]);
    rd->nfields = 0;
}

/* "employee_no,name,..." for messages. */
static void header_text(const struct reader *rd, char *out, size_t outsz)
{
    size_t o = 0;

    out[0] = '\0';
    for (int c = 0; c < rd->ncols && o < outsz; c++)
        o += (size_t)snprintf(out + o, outsz - o, "%s%s", c ? "," : "", rd->cols[c].name);
}

static void read_header(struct reader *rd)
{
    size_t before = rd->p->n;
    char names[256];

    header_text(rd, names, sizeof names);
    for (int c = 0; c < rd->ncols; c++)
        rd->pos[c] = -1;
    rd->header_cols = rd->nfields;
    for (size_t i = 0; i < rd->nfields; i++) {
        char *h = gy_trim(rd->fields[i]);
        int found = -1;

        for (char *q = h; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        for (int c = 0; c < rd->ncols; c++)
            if (strcmp(h, rd->cols[c].name) == 0)
                found = c;
        if (found < 0)
            csv_problem_add(rd->p, 1, h, "表头里有不认识的列“%s”；列名应为 %s", h, names);
        else if (rd->pos[found] >= 0)
            csv_problem_add(rd->p, 1, h, "表头里“%s”出现了两次", h);
        else
            rd->pos[found] = (int)i;
    }
    for (int c = 0; c < rd->ncols; c++)
        if (rd->pos[c] < 0)
            csv_problem_add(rd->p, 1, rd->cols[c].name, "表头缺少“%s”列", rd->cols[c].name);
    if (rd->p->n > before)
        rd->stop = true;
}

/* A line break or tab inside a cell (Alt+Enter in Excel) becomes one
 * space: every cell is one line. Runs of spaces collapse. */
static void flatten_breaks(char *s)
{
    size_t o = 0;

    for (size_t i = 0; s[i]; i++) {
        char ch = (s[i] == '\r' || s[i] == '\n' || s[i] == '\t') ? ' ' : s[i];
        if (ch == ' ' && o > 0 && s[o - 1] == ' ')
            continue;
        s[o++] = ch;
    }
    s[o] = '\0';
}

/* The checks every cell gets; false (with a problem added) if it is bad. */
static bool check_cell(struct reader *rd, long row, int c, char *v)
{
    const struct csv_column *col = &rd->cols[c];

    flatten_breaks(v);
    gy_trim(v);
    if (!gy_utf8_valid(v, strlen(v), UTF8_NO_CTL)) {
        csv_problem_add(rd->p, row, col->name, "含有看不见的控制字符，请删掉后再上传");
        return false;
    }
    if (!*v && col->required) {
        csv_problem_add(rd->p, row, col->name, "不能为空");
        return false;
    }
    if (gy_utf8_len(v) > col->max_chars) {
        csv_problem_add(rd->p, row, col->name, "太长了：最多 %zu 个字", col->max_chars);
        return false;
    }
    return true;
}

static void read_row(struct reader *rd)
{
    long row = rd->record;
    bool ok[MAX_COLS], blank = true;
    char *val[MAX_COLS];

    for (size_t i = 0; i < rd->nfields; i++)
        if (*gy_trim(rd->fields[i]))
            blank = false;
    if (blank)
        return;   /* Excel leaves rows of empty cells behind: not an error */
    rd->rows++;
    if (rd->nfields != rd->header_cols) {
        csv_problem_add(rd->p, row, "", "这一行有 %zu 列，表头有 %zu 列；请检查是否多了或少了逗号",
                        rd->nfields, rd->header_cols);
        return;
    }
    for (int c = 0; c < rd->ncols; c++) {
        val[c] = rd->fields[rd->pos[c]];
        ok[c] = check_cell(rd, row, c, val[c]);
    }
    rd->fn(rd->ctx, row, val, ok);
}

static void on_record(int c, void *data)
{
    struct reader *rd = data;

    (void)c;
    rd->record++;
    if (!rd->stop) {
        if (!rd->have_header) {
            rd->have_header = true;
            read_header(rd);
        } else {
            read_row(rd);
        }
    }
    clear_fields(rd);
}

/* The line on which byte OFFSET falls, for the file-level UTF-8 message. */
static long line_of(const char *data, size_t offset)
{
    long line = 1;

    for (size_t i = 0; i < offset; i++)
        if (data[i] == '\n')
            line++;
    return line;
}

static size_t first_bad_utf8(const char *data, size_t len)
{
    size_t lo = 0;

    /* Walk line by line so the message can name a line. */
    while (lo < len) {
        const char *nl = memchr(data + lo, '\n', len - lo);
        size_t hi = nl ? (size_t)(nl - data) : len;
        if (!gy_utf8_valid(data + lo, hi - lo, UTF8_ANY_CTL))
            return lo;
        lo = hi + 1;
    }
    return len;
}

int csv_read(const char *data, size_t len, const struct csv_column *cols, int ncols,
             const char *what, csv_row_fn *fn, void *ctx, struct csv_problems *p)
{
    struct reader rd = { .cols = cols, .ncols = ncols, .what = what, .fn = fn, .ctx = ctx, .p = p };
    struct csv_parser parser;
    char names[256];
    size_t bad;

    if (ncols > MAX_COLS)
        return GY_ERR;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) {
        data += 3;
        len -= 3;
    }
    if ((bad = first_bad_utf8(data, len)) < len) {
        csv_problem_add(p, line_of(data, bad), "",
                        "文件不是 UTF-8 编码（Excel 默认存成 GBK）。请在 Excel 里“另存为”选“CSV UTF-8（逗号分隔）”后再上传");
        return GY_OK;
    }
    if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI) != 0)
        return GY_ERR;
    if (csv_parse(&parser, data, len, on_field, on_record, &rd) != len ||
        csv_fini(&parser, on_field, on_record, &rd) != 0)
        csv_problem_add(p, rd.record + 1, "", "引号不成对（%s）：含逗号或换行的内容要整个用英文双引号括起来",
                        csv_strerror(csv_error(&parser)));
    csv_free(&parser);
    clear_fields(&rd);
    free(rd.fields);
    header_text(&rd, names, sizeof names);
    if (!rd.have_header)
        csv_problem_add(p, 1, "", "文件是空的：第一行应为表头 %s", names);
    else if (rd.rows == 0 && p->n == 0)
        csv_problem_add(p, 2, "", "只有表头，没有%s", what);
    return GY_OK;
}

/* ==== writing ==== */

static void out_grow(struct csv_out *o, size_t more)
{
    if (o->len + more + 1 > o->cap) {
        o->cap = (o->len + more + 1) * 2;
        o->buf = gy_realloc(o->buf, o->cap);
    }
}

static void out_put(struct csv_out *o, const char *s, size_t n)
{
    out_grow(o, n);
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

void csv_out_init(struct csv_out *o)
{
    memset(o, 0, sizeof *o);
    out_put(o, "\xEF\xBB\xBF", 3);   /* so Excel reads UTF-8 */
    o->row_start = true;
}

void csv_out_text(struct csv_out *o, const char *s)
{
    size_t n = strlen(s ? s : "");
    bool formula = s && strchr("=+-@\t\r", s[0]) && s[0];

    if (!o->row_start)
        out_put(o, ",", 1);
    o->row_start = false;
    out_put(o, "\"", 1);
    if (formula)
        out_put(o, "'", 1);   /* Excel would run "=..." as a formula */
    for (size_t i = 0; i < n; i++)
        out_put(o, s[i] == '"' ? "\"\"" : &s[i], s[i] == '"' ? 2 : 1);
    out_put(o, "\"", 1);
}

void csv_out_num(struct csv_out *o, double v)
{
    char num[64];
    int n = (v == (double)(long long)v) ? snprintf(num, sizeof num, "%lld", (long long)v)
                                         : snprintf(num, sizeof num, "%.4f", v);

    /* 1234.5000 -> 1234.5: plain decimals, never 1.2e+03 */
    if (strchr(num, '.')) {
        while (n > 0 && num[n - 1] == '0')
            num[--n] = '\0';
        if (n > 0 && num[n - 1] == '.')
            num[--n] = '\0';
    }

    if (!o->row_start)
        out_put(o, ",", 1);
    o->row_start = false;
    out_put(o, num, (size_t)n);
}

void csv_out_end_row(struct csv_out *o)
{
    out_put(o, "\r\n", 2);
    o->row_start = true;
}

void csv_out_free(struct csv_out *o)
{
    free(o->buf);
    memset(o, 0, sizeof *o);
}
