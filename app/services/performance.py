"""Performance grade: one documented rule turning Lighthouse scores and Core Web
Vitals into ``A+`` … ``F``.

Rule:
1. score = 0.4 × performance + 0.2 × accessibility + 0.2 × best practices + 0.2 × SEO.
2. letter from score: ≥ 90 A, ≥ 80 B, ≥ 70 C, ≥ 50 D, else F.
3. A becomes A+ when score ≥ 95 and every known vital is "good"
   (LCP ≤ 2.5 s, INP ≤ 200 ms, CLS ≤ 0.1).
4. Any "poor" vital (LCP > 4 s, INP > 500 ms, CLS > 0.25) caps the grade at C.
"""

from __future__ import annotations

from decimal import Decimal

from app.models import Grade

ORDER = [Grade.A_PLUS, Grade.A, Grade.B, Grade.C, Grade.D, Grade.F]


def score(performance, accessibility, best_practices, seo) -> Decimal:
    return (Decimal(performance) * Decimal("0.4") + Decimal(accessibility) * Decimal("0.2")
            + Decimal(best_practices) * Decimal("0.2") + Decimal(seo) * Decimal("0.2"))


def vitals_good(lcp_s, inp_ms, cls) -> bool:
    return ((lcp_s is None or Decimal(str(lcp_s)) <= Decimal("2.5"))
            and (inp_ms is None or inp_ms <= 200)
            and (cls is None or Decimal(str(cls)) <= Decimal("0.1")))


def vitals_poor(lcp_s, inp_ms, cls) -> bool:
    return ((lcp_s is not None and Decimal(str(lcp_s)) > 4)
            or (inp_ms is not None and inp_ms > 500)
            or (cls is not None and Decimal(str(cls)) > Decimal("0.25")))


def grade(performance, accessibility, best_practices, seo, lcp_s=None, inp_ms=None, cls=None) -> Grade:
    s = score(performance, accessibility, best_practices, seo)
    if s >= 90:
        letter = Grade.A_PLUS if s >= 95 and vitals_good(lcp_s, inp_ms, cls) else Grade.A
    elif s >= 80:
        letter = Grade.B
    elif s >= 70:
        letter = Grade.C
    elif s >= 50:
        letter = Grade.D
    else:
        letter = Grade.F
    if vitals_poor(lcp_s, inp_ms, cls) and ORDER.index(letter) < ORDER.index(Grade.C):
        letter = Grade.C
    return letter


def grade_metric(metric) -> Grade:
    return grade(metric.lighthouse_performance, metric.lighthouse_accessibility,
                 metric.lighthouse_best_practices, metric.lighthouse_seo,
                 metric.lcp_s, metric.inp_ms, metric.cls)
