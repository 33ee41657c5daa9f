/* SVG plots of a scored NAB series; see nab_svg.h. Long series are drawn
 * as one min/max pair per pixel column, so a spike of one row still shows. */
#include "nab_svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { WIDTH = 1200, TOP = 24, VAL_H = 180, GAP = 16, SCORE_H = 90, LEFT = 50 };

static double xpos(size_t i, size_t n)
{
    return LEFT + (double)i * (WIDTH - LEFT - 10) / (double)(n > 1 ? n - 1 : 1);
}

/* A polyline of v over [lo, hi] into a band at y0 of height h; NaN breaks it. */
static void polyline(FILE *f, const double *v, size_t n, double lo, double hi, double y0,
                     double h, const char *color)
{
    size_t cols = WIDTH - LEFT - 10;
    double span = hi > lo ? hi - lo : 1.0;
    fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1\" d=\"", color);
    int pen = 0;
    for (size_t c = 0; c < cols; c++) {
        size_t a = c * n / cols, b = (c + 1) * n / cols;
        if (b <= a)
            b = a + 1;
        if (a >= n)
            break;
        double mn = INFINITY, mx = -INFINITY;
        for (size_t i = a; i < b && i < n; i++) {
            if (isfinite(v[i])) {
                mn = v[i] < mn ? v[i] : mn;
                mx = v[i] > mx ? v[i] : mx;
            }
        }
        if (!isfinite(mn)) {
            pen = 0;
            continue;
        }
        double x = xpos(a, n);
        fprintf(f, "%c%.1f %.1f L%.1f %.1f ", pen ? 'L' : 'M', x, y0 + h - (mn - lo) / span * h, x,
                y0 + h - (mx - lo) / span * h);
        pen = 1;
    }
    fprintf(f, "\"/>\n");
}

int nab_svg_write(const char *dir, const struct nab_series *s, const double *score,
                  const double *alert, double theta)
{
    char path[4096], flat[512];
    snprintf(flat, sizeof flat, "%s", s->name);
    for (char *p = flat; *p; p++)
        if (*p == '/')
            *p = '_';
    size_t len = strlen(flat);
    if (len > 4 && !strcmp(flat + len - 4, ".csv"))
        flat[len - 4] = 0;
    snprintf(path, sizeof path, "%s/%s.svg", dir, flat);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < s->n; i++)
        if (isfinite(s->value[i])) {
            lo = s->value[i] < lo ? s->value[i] : lo;
            hi = s->value[i] > hi ? s->value[i] : hi;
        }
    if (!isfinite(lo))
        lo = 0, hi = 1;
    int height = TOP + VAL_H + GAP + SCORE_H + 30;
    double sy = TOP + VAL_H + GAP;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%%\" "
            "height=\"100%%\" fill=\"white\"/>\n<text x=\"%d\" y=\"15\">%s: %zu rows, %zu "
            "windows (red bands), probation grey, alerts red ticks, score blue, threshold "
            "%.6g dashed</text>\n",
            WIDTH, height, LEFT, s->name, s->n, s->nw, theta);
    double px = xpos(s->probation, s->n);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#eee\"/>\n", LEFT,
            TOP, px - LEFT, VAL_H + GAP + SCORE_H);
    for (size_t k = 0; k < s->nw; k++) {
        double a = xpos(s->w[k].first, s->n), b = xpos(s->w[k].last, s->n);
        fprintf(f,
                "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#f4a6a6\" "
                "fill-opacity=\"0.5\"/>\n",
                a, TOP, b - a > 1 ? b - a : 1, VAL_H + GAP + SCORE_H);
    }
    fprintf(f, "<text x=\"2\" y=\"%d\">%.4g</text><text x=\"2\" y=\"%d\">%.4g</text>\n", TOP + 10,
            hi, TOP + VAL_H, lo);
    polyline(f, s->value, s->n, lo, hi, TOP, VAL_H, "#222");
    polyline(f, score, s->n, 0.0, 1.0, sy, SCORE_H, "#1f5fbf");
    if (theta <= 1.0) {
        double ty = sy + SCORE_H - theta * SCORE_H;
        fprintf(f,
                "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#1f5fbf\" "
                "stroke-dasharray=\"4 3\"/>\n",
                LEFT, WIDTH - 10, ty, ty);
    }
    fprintf(f, "<text x=\"2\" y=\"%.0f\">score</text>\n", sy + 10);
    for (size_t i = 0; i < s->n; i++)
        if (alert[i] > 0.5)
            fprintf(f,
                    "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"red\"/>\n",
                    xpos(i, s->n), xpos(i, s->n), sy + SCORE_H + 4, sy + SCORE_H + 18);
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}
