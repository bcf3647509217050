/* Unit tests for roster_parse(): the roster CSV on top of libcsv. */
#include "gongyou.h"
#include "unit.h"

#include <stdlib.h>

#define HEADER "employee_no,name,department,phone,site,roles,supervisor_no"

static void parse(const char *text, struct roster_file *f)
{
    CHECK(roster_parse(text, strlen(text), f) == GY_OK);
}

/* True when some problem names ROW and COLUMN. */
static bool has_problem(const struct roster_file *f, long row, const char *column)
{
    for (size_t i = 0; i < f->problems.n; i++)
        if (f->problems.v[i].row == row && strcmp(f->problems.v[i].column, column) == 0)
            return true;
    return false;
}

static void plain(void)
{
    struct roster_file f;

    parse(HEADER "\nE001,张三,装配,138-0000-1234,一厂,worker,S01\nS01,李四,装配,13900005678,一厂,worker|supervisor,\n", &f);
    CHECK(f.problems.n == 0);
    CHECK(f.n == 2);
    CHECK_STR(f.rows[0].employee_no, "E001");
    CHECK_STR(f.rows[0].name, "张三");
    CHECK_STR(f.rows[0].phone, "13800001234");   /* dashes dropped */
    CHECK_STR(f.rows[0].supervisor_no, "S01");
    CHECK(f.rows[0].roles == R_WORKER);
    CHECK(f.rows[1].supervisor_no == NULL);
    CHECK(f.rows[1].roles == (R_WORKER | R_SUPERVISOR));
    CHECK(f.rows[1].row == 3);
    roster_file_free(&f);
}

static void bom_crlf_quotes(void)
{
    struct roster_file f;
    const char *text = "\xEF\xBB\xBF" HEADER "\r\n"
                       "E001,\"王, 五\",\"一车间\r\n二组\",13800001234,一厂,\"worker|technician\",\r\n"
                       "E002,\"赵\"\"六\"\"\",仓库,13800004321,二厂,worker,E001\r\n";

    parse(text, &f);
    /* A line break inside a quoted cell (Alt+Enter in Excel) becomes a space. */
    CHECK(f.problems.n == 0);
    CHECK(f.n == 2);
    CHECK_STR(f.rows[0].department, "一车间 二组");
    CHECK(f.rows[1].row == 3);   /* rows are records, as Excel numbers them */
    roster_file_free(&f);

    parse(HEADER "\nE001,a,x\x01y,13800001234,y,worker,\n", &f);
    CHECK(has_problem(&f, 2, "department"));   /* other control characters are refused */
    roster_file_free(&f);

    text = "\xEF\xBB\xBF" HEADER "\r\n"
           "E001,\"王, 五\",一车间,13800001234,一厂,\"worker|technician\",\r\n"
           "E002,\"赵\"\"六\"\"\",仓库,13800004321,二厂,worker,E001\r\n";
    parse(text, &f);
    CHECK(f.problems.n == 0);
    CHECK(f.n == 2);
    CHECK_STR(f.rows[0].employee_no, "E001");   /* BOM not glued to the first header */
    CHECK_STR(f.rows[0].name, "王, 五");
    CHECK_STR(f.rows[1].name, "赵\"六\"");
    CHECK(f.rows[0].roles == (R_WORKER | R_TECH));
    CHECK(f.rows[1].row == 3);
    roster_file_free(&f);
}

static void header_any_order_and_case(void)
{
    struct roster_file f;

    parse("Name, EMPLOYEE_NO ,roles,phone,site,department,supervisor_no\n张三,E9,worker,13800001234,,,\n", &f);
    CHECK(f.problems.n == 0);
    CHECK(f.n == 1);
    CHECK_STR(f.rows[0].employee_no, "E9");
    CHECK_STR(f.rows[0].site, "");
    roster_file_free(&f);
}

static void header_problems(void)
{
    struct roster_file f;

    parse("employee_no,name,phone,roles,color\nE1,a,13800001234,worker,red\n", &f);
    CHECK(has_problem(&f, 1, "color"));
    CHECK(has_problem(&f, 1, "department"));
    CHECK(has_problem(&f, 1, "site"));
    CHECK(has_problem(&f, 1, "supervisor_no"));
    CHECK(f.n == 0);
    roster_file_free(&f);

    parse("", &f);
    CHECK(f.problems.n == 1);
    roster_file_free(&f);

    parse(HEADER "\n", &f);
    CHECK(f.problems.n == 1);   /* only a header */
    roster_file_free(&f);
}

static void bad_utf8(void)
{
    struct roster_file f;

    /* "张三" in GBK, as Excel saves by default on Chinese Windows. */
    parse(HEADER "\nE001,\xd5\xc5\xc8\xfd,x,13800001234,y,worker,\n", &f);
    CHECK(f.problems.n == 1);
    CHECK(f.problems.v[0].row == 2);
    CHECK(strstr(f.problems.v[0].problem, "UTF-8") != NULL);
    CHECK(f.n == 0);
    roster_file_free(&f);
}

static void column_counts(void)
{
    struct roster_file f;

    parse(HEADER "\nE001,张三,x,13800001234,y,worker,,extra\nE002,李四,x\n", &f);
    CHECK(f.problems.n == 2);
    CHECK(has_problem(&f, 2, ""));
    CHECK(has_problem(&f, 3, ""));
    roster_file_free(&f);
}

static void field_problems(void)
{
    struct roster_file f;

    parse(HEADER "\n"
          ",张三,x,13800001234,y,worker,\n"          /* 2: no employee_no */
          "E 1,张三,x,13800001234,y,worker,\n"       /* 3: space in number */
          "E3,,x,13800001234,y,worker,\n"            /* 4: no name */
          "E4,a,x,12ab,y,worker,\n"                  /* 5: bad phone */
          "E5,a,x,13800001234,y,boss,\n"             /* 6: bad role */
          "E6,a,x,13800001234,y,,\n"                 /* 7: no role */
          "E7,a,x,13800001234,y,worker,E7\n"         /* 8: own supervisor */
          "E8,a,x,13800001234,y,worker,\n"
          "E8,b,x,13800001234,y,worker,\n"           /* 10: duplicate */
          ",,,,,,\n",                                /* blank row: ignored */
          &f);
    CHECK(has_problem(&f, 2, "employee_no"));
    CHECK(has_problem(&f, 3, "employee_no"));
    CHECK(has_problem(&f, 4, "name"));
    CHECK(has_problem(&f, 5, "phone"));
    CHECK(has_problem(&f, 6, "roles"));
    CHECK(has_problem(&f, 7, "roles"));
    CHECK(has_problem(&f, 8, "supervisor_no"));
    CHECK(has_problem(&f, 10, "employee_no"));   /* duplicates are found among the good rows */
    CHECK(f.problems.n == 8);
    roster_file_free(&f);

    parse(HEADER "\nE8,a,x,13800001234,y,worker,\nE8,b,x,13800001234,y,worker,\n", &f);
    CHECK(f.problems.n == 1);
    CHECK(has_problem(&f, 3, "employee_no"));
    roster_file_free(&f);
}

static void unbalanced_quote(void)
{
    struct roster_file f;

    parse(HEADER "\nE001,\"张三,x,13800001234,y,worker,\n", &f);
    CHECK(f.problems.n >= 1);
    roster_file_free(&f);
}

static void many_problems_capped(void)
{
    struct roster_file f;
    size_t cap = 1 << 16, len;
    char *text = malloc(cap);

    len = (size_t)snprintf(text, cap, HEADER "\n");
    for (int i = 0; i < 1000; i++)
        len += (size_t)snprintf(text + len, cap - len, "E%d,,x,1,y,boss,\n", i);
    CHECK(roster_parse(text, len, &f) == GY_OK);
    CHECK(f.problems.n <= 201);
    CHECK(f.problems.v[f.problems.n - 1].row == 0);   /* the "too many" note */
    roster_file_free(&f);
    free(text);
}

static void problems_json(void)
{
    struct roster_file f;
    cJSON *a;

    parse(HEADER "\nE1,,x,13800001234,y,worker,\n", &f);
    a = csv_problems_json(&f.problems);
    CHECK(cJSON_GetArraySize(a) == 1);
    CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "row")->valueint == 2);
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "column")->valuestring, "name");
    cJSON_Delete(a);
    roster_file_free(&f);
}

/* CSV for Excel: BOM, CRLF, quotes doubled, formulas defused. */
static void csv_writer(void)
{
    struct csv_out o;

    csv_out_init(&o);
    csv_out_text(&o, "日期");
    csv_out_text(&o, "say \"hi\", ok");
    csv_out_end_row(&o);
    csv_out_text(&o, "=1+1");
    csv_out_num(&o, 12);
    csv_out_num(&o, 0.25);
    csv_out_text(&o, NULL);
    csv_out_end_row(&o);
    CHECK_STR(o.buf, "\xEF\xBB\xBF\"日期\",\"say \"\"hi\"\", ok\"\r\n\"'=1+1\",12,0.25,\"\"\r\n");
    CHECK(o.len == strlen(o.buf));
    csv_out_free(&o);
}

static const struct unit_test tests[] = {
    { "plain", plain },
    { "bom_crlf_quotes", bom_crlf_quotes },
    { "header_any_order_and_case", header_any_order_and_case },
    { "header_problems", header_problems },
    { "bad_utf8", bad_utf8 },
    { "column_counts", column_counts },
    { "field_problems", field_problems },
    { "unbalanced_quote", unbalanced_quote },
    { "many_problems_capped", many_problems_capped },
    { "problems_json", problems_json },
    { "csv_writer", csv_writer },
};

int main(void)
{
    gy_json_hooks_init();
    return RUN_TESTS(tests);
}
