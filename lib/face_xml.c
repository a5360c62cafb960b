/* face_xml.c — a small XML reader for OpenCV's cascade files: elements, their own text and line
 * numbers into a flat tree, with limits that keep a hostile file from asking for absurd depth. */
#include "face_internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

static int xml_fail(struct xml_doc *d, vx_error *err, const char *what)
{
    return vx_fail(err, "%s:%d: %s", d->where, d->line, what);
}

static void xml_advance(struct xml_doc *d, size_t n)
{
    for (size_t i = 0; i < n && d->p < d->end; i++, d->p++)
        if (*d->p == '\n')
            d->line++;
}

int xml_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.' || c == ':';
}

static void xml_skip_space(struct xml_doc *d)
{
    while (d->p < d->end && xml_is_space(*d->p))
        xml_advance(d, 1);
}

static int xml_starts(const struct xml_doc *d, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(d->end - d->p) >= n && memcmp(d->p, s, n) == 0;
}

/* Skips past the next occurrence of `close`; fails when the input ends first. */
static int xml_skip_past(struct xml_doc *d, const char *close, const char *what, vx_error *err)
{
    size_t n = strlen(close);
    int line = d->line;
    while (d->p < d->end && !xml_starts(d, close))
        xml_advance(d, 1);
    if (d->p >= d->end) {
        d->line = line;
        return xml_fail(d, err, what);
    }
    xml_advance(d, n);
    return 0;
}

/* Comments, processing instructions and whitespace between elements. */
static int xml_skip_misc(struct xml_doc *d, vx_error *err)
{
    for (;;) {
        xml_skip_space(d);
        if (xml_starts(d, "<!--")) {
            if (xml_skip_past(d, "-->", "unterminated comment", err) < 0)
                return -1;
        } else if (xml_starts(d, "<?")) {
            if (xml_skip_past(d, "?>", "unterminated <? ?> declaration", err) < 0)
                return -1;
        } else if (xml_starts(d, "<!")) {
            return xml_fail(d, err, "DOCTYPE and CDATA sections are not supported");
        } else {
            return 0;
        }
    }
}

static int xml_new_node(struct xml_doc *d, vx_error *err)
{
    if (d->nnodes == d->cap) {
        int cap = d->cap ? 2 * d->cap : 1024;
        struct xml_node *n = realloc(d->nodes, (size_t)cap * sizeof *n);
        if (!n)
            return vx_fail(err, "out of memory reading %s", d->where);
        d->nodes = n;
        d->cap = cap;
    }
    struct xml_node *n = &d->nodes[d->nnodes];
    memset(n, 0, sizeof *n);
    n->first_child = n->next_sibling = -1;
    n->line = d->line;
    return d->nnodes++;
}

/* Parses one element starting at '<'; returns its index. */
static int xml_element(struct xml_doc *d, int depth, vx_error *err)
{
    if (depth > MAX_DEPTH)
        return xml_fail(d, err, "elements nested too deeply");
    if (d->p >= d->end || *d->p != '<')
        return xml_fail(d, err, "expected an element");
    xml_advance(d, 1);
    int idx = xml_new_node(d, err);
    if (idx < 0)
        return -1;
    const char *name = d->p;
    while (d->p < d->end && is_name_char(*d->p))
        xml_advance(d, 1);
    size_t name_len = (size_t)(d->p - name);
    if (name_len == 0)
        return xml_fail(d, err, "expected an element name after '<'");
    d->nodes[idx].name = name;
    d->nodes[idx].name_len = name_len;
    /* Attributes (OpenCV writes type_id) are checked for form and otherwise ignored. */
    for (;;) {
        xml_skip_space(d);
        if (d->p >= d->end)
            return xml_fail(d, err, "unterminated start tag");
        if (*d->p == '>' || xml_starts(d, "/>"))
            break;
        if (!is_name_char(*d->p))
            return xml_fail(d, err, "malformed attribute");
        while (d->p < d->end && is_name_char(*d->p))
            xml_advance(d, 1);
        xml_skip_space(d);
        if (d->p >= d->end || *d->p != '=')
            return xml_fail(d, err, "attribute without '='");
        xml_advance(d, 1);
        xml_skip_space(d);
        if (d->p >= d->end || (*d->p != '"' && *d->p != '\''))
            return xml_fail(d, err, "attribute value without quotes");
        char quote[2] = {*d->p, 0};
        xml_advance(d, 1);
        if (xml_skip_past(d, quote, "unterminated attribute value", err) < 0)
            return -1;
    }
    if (xml_starts(d, "/>")) {
        xml_advance(d, 2);
        return idx;
    }
    xml_advance(d, 1);
    int last_child = -1;
    for (;;) {
        /* Text up to the next markup; only one non-blank run is allowed (no mixed content). */
        const char *t = d->p;
        int tline = d->line;
        while (d->p < d->end && *d->p != '<') {
            if (*d->p == '&')
                return xml_fail(d, err, "character references (&...;) are not supported");
            xml_advance(d, 1);
        }
        const char *te = d->p;
        while (t < te && xml_is_space(*t)) {
            if (*t == '\n')
                tline++;
            t++;
        }
        while (te > t && xml_is_space(te[-1]))
            te--;
        if (te > t) {
            if (d->nodes[idx].text || last_child >= 0) {
                d->line = tline;
                return xml_fail(d, err, "text mixed with elements");
            }
            d->nodes[idx].text = t;
            d->nodes[idx].text_len = (size_t)(te - t);
        }
        if (d->p >= d->end) {
            char msg[200];
            snprintf(msg, sizeof msg, "<%.*s> is never closed", (int)name_len, name);
            d->line = d->nodes[idx].line;
            return xml_fail(d, err, msg);
        }
        if (xml_starts(d, "<!--")) {
            if (xml_skip_past(d, "-->", "unterminated comment", err) < 0)
                return -1;
            continue;
        }
        if (xml_starts(d, "</")) {
            xml_advance(d, 2);
            const char *cn = d->p;
            while (d->p < d->end && is_name_char(*d->p))
                xml_advance(d, 1);
            if ((size_t)(d->p - cn) != name_len || memcmp(cn, name, name_len) != 0) {
                char msg[200];
                snprintf(msg, sizeof msg, "closing tag </%.*s> does not match <%.*s> of line %d", (int)(d->p - cn),
                         cn, (int)name_len, name, d->nodes[idx].line);
                return xml_fail(d, err, msg);
            }
            xml_skip_space(d);
            if (d->p >= d->end || *d->p != '>')
                return xml_fail(d, err, "malformed closing tag");
            xml_advance(d, 1);
            return idx;
        }
        if (d->nodes[idx].text) {
            return xml_fail(d, err, "text mixed with elements");
        }
        int child = xml_element(d, depth + 1, err);
        if (child < 0)
            return -1;
        if (last_child < 0)
            d->nodes[idx].first_child = child;
        else
            d->nodes[last_child].next_sibling = child;
        last_child = child;
    }
}

int xml_parse(struct xml_doc *d, const char *text, size_t len, const char *where, vx_error *err)
{
    memset(d, 0, sizeof *d);
    d->where = where;
    d->p = text;
    d->end = text + len;
    d->line = 1;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        d->p += 3;
    if (xml_skip_misc(d, err) < 0)
        return -1;
    if (d->p >= d->end)
        return xml_fail(d, err, "no XML element found");
    if (xml_element(d, 0, err) < 0)
        return -1;
    if (xml_skip_misc(d, err) < 0)
        return -1;
    if (d->p < d->end)
        return xml_fail(d, err, "content after the root element");
    return 0;
}

int xml_node_is(const struct xml_node *n, const char *name)
{
    return strlen(name) == n->name_len && memcmp(n->name, name, n->name_len) == 0;
}

int xml_child(const struct xml_doc *d, int parent, const char *name)
{
    for (int c = d->nodes[parent].first_child; c >= 0; c = d->nodes[c].next_sibling)
        if (xml_node_is(&d->nodes[c], name))
            return c;
    return -1;
}

int xml_count_children(const struct xml_doc *d, int parent)
{
    int n = 0;
    for (int c = d->nodes[parent].first_child; c >= 0; c = d->nodes[c].next_sibling)
        n++;
    return n;
}
