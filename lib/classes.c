/* classes.c — the seven emotion classes, defined once, and the folder spellings data sets use. */
#include "vx.h"

#include <ctype.h>
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
