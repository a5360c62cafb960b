/* classes.c — the seven emotion classes, defined once, the folder spellings data sets use, and the
 * classes= lists that name any other class set. */
#include "vx.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const class_names[VX_NCLASSES] = {
    "anger", "disgust", "fear", "happy", "neutral", "sad", "surprise",
};

/* Spellings seen in FER-2013, CK+, RAF-DB and similar folder-per-class sets. */
static const struct {
    const char *spelling;
    int index;
} class_aliases[] = {
    {"angry", 0},     {"anger", 0},     {"disgust", 1},  {"disgusted", 1}, {"fear", 2},
    {"fearful", 2},   {"scared", 2},    {"happy", 3},    {"happiness", 3}, {"neutral", 4},
    {"sad", 5},       {"sadness", 5},   {"surprise", 6}, {"surprised", 6},
};

const char *vx_class_name(int index)
{
    if (index < 0 || index >= VX_NCLASSES)
        return NULL;
    return class_names[index];
}

int vx_class_from_name(const char *name)
{
    /* Folder names may carry a numeric prefix ("0_angry", "3-happy"); skip it. */
    const char *p = name;
    while (isdigit((unsigned char)*p))
        p++;
    if (p != name && (*p == '_' || *p == '-' || *p == ' '))
        name = p + 1;
    for (size_t i = 0; i < sizeof class_aliases / sizeof class_aliases[0]; i++)
        if (strcasecmp(name, class_aliases[i].spelling) == 0)
            return class_aliases[i].index;
    return -1;
}

int vx_classes_name(const char *list, int index, char *buf, size_t size)
{
    for (int i = 0; list && i < index; i++) {
        list = strchr(list, ',');
        list = list ? list + 1 : NULL;
    }
    if (!list || index < 0 || size == 0)
        return 0;
    size_t len = strcspn(list, ",");
    snprintf(buf, size, "%.*s", (int)(len < size ? len : size - 1), list);
    return 1;
}

int vx_classes_count(const char *list)
{
    if (!list || !*list)
        return 0;
    int n = 1;
    for (; *list; list++)
        n += *list == ',';
    return n;
}
