"""Draws the limits guide's diagram (docs/_static/limits-en.svg and limits-ru.svg).

    python docs/_ext/diagrams.py        # needs matplotlib (the bench extra)

The SVGs are committed, so building the docs needs no matplotlib. Both panels are small
simulations, one step a tenth of a second, of the rules the limits guide states:

* the request bucket: +1 per request, draining 2 per second, a request refused (503) when
  the counter is at 50; bitrix_fast keeps 2 of the 50 spare, then sends at the drain rate;
* one method's operating budget: server seconds summed over ten one-minute baskets,
  refused (429) past 480 s; bitrix_fast slows the method from 80% (a pause after each reply
  growing to 6 s) and waits for the oldest basket to drop from 475 s.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

OUT = Path(__file__).resolve().parents[1] / "_static"
STEP = 0.1

TEXT: Dict[str, Dict[str, str]] = {
    "en": {
        "bucket": "Requests: the portal's leaky bucket (standard plan)",
        "level": "the portal's counter; requests",
        "seconds": "seconds",
        "limit": "50: the next request is refused (503 QUERY_LIMIT_EXCEEDED)",
        "ours": "bitrix_fast: 48 at once, then 2 per second",
        "sent": "bitrix_fast: requests accepted so far (a job of 80)",
        "naive": "a client sending 4 per second",
        "refused": "refused: {n}",
        "budget": "Server time: one method's operating budget",
        "used": "server seconds in the last 10 minutes",
        "minutes": "minutes",
        "wall": "480 s: the method is refused (429 OPERATION_TIME_LIMIT)",
        "slow": "80%: bitrix_fast slows this method down",
        "ours_b": "bitrix_fast: slows, then waits for the oldest minute to drop out",
        "naive_b": "a client that ignores it",
    },
    "ru": {
        "bucket": "Запросы: «дырявое ведро» портала (обычный тариф)",
        "level": "счётчик портала; запросы",
        "seconds": "секунды",
        "limit": "50: следующий запрос отклоняется (503 QUERY_LIMIT_EXCEEDED)",
        "ours": "bitrix_fast: 48 сразу, затем 2 в секунду",
        "sent": "bitrix_fast: сколько запросов принято (задача из 80)",
        "naive": "клиент, шлющий 4 запроса в секунду",
        "refused": "отказов: {n}",
        "budget": "Время сервера: бюджет одного метода",
        "used": "секунд сервера за последние 10 минут",
        "minutes": "минуты",
        "wall": "480 с: метод отклоняется (429 OPERATION_TIME_LIMIT)",
        "slow": "80%: bitrix_fast замедляет этот метод",
        "ours_b": "bitrix_fast: замедляется и ждёт, пока выпадет старая минута",
        "naive_b": "клиент, который бюджет не учитывает",
    },
}


def bucket(send_rate: float, spare: int, jobs: int = 80, seconds: float = 45.0
           ) -> Tuple[List[float], List[float], List[int], int]:
    """The portal's counter and the requests it accepted over time, for a job of ``jobs``
    requests, and how many it refused. The client sends ``50 - spare`` at once, then
    ``send_rate`` a second (a refused request is sent again); a paced client (``spare`` > 0)
    never lets the counter past ``50 - spare``."""
    level, credit, refused, done = 0.0, 0.0, 0, 0
    times: List[float] = [-2.0]
    levels: List[float] = [0.0]
    accepted: List[int] = [0]
    t = 0.0
    while t <= seconds:
        if t == 0:
            wanted = 50 - spare
        else:
            credit += send_rate * STEP
            wanted = int(credit)
            if spare:
                wanted = min(wanted, int(50 - spare - level))
            credit -= wanted
        for _ in range(max(0, min(wanted, jobs - done))):
            if level + 1 > 50:
                refused += 1
            else:
                level += 1
                done += 1
        times.append(t)
        levels.append(level)
        accepted.append(done)
        level = max(0.0, level - 2.0 * STEP)
        t = round(t + STEP, 6)
    return times, levels, accepted, refused


def budget(paced: bool, minutes: float = 16.0) -> Tuple[List[float], List[float]]:
    """One method's figure over time, for a job that would use 1 server second a second."""
    baskets = [0.0] * int(minutes + 11)
    times: List[float] = []
    used: List[float] = []
    t = 0.0
    while t <= minutes * 60:
        minute = int(t // 60)
        window = sum(baskets[max(0, minute - 9):minute + 1])
        rate = 1.0
        if paced and window >= 475:
            rate = 0.0
        elif paced and window >= 384:
            pause = 6.0 * (window - 384) / (475 - 384)
            rate = 1.0 / (1.0 + pause)  # a one-second call, then the pause
        elif not paced and window >= 480:
            rate = 0.0  # refused
        baskets[minute] += rate * STEP
        times.append(t / 60)
        used.append(window)
        t = round(t + STEP, 6)
    return times, used


def draw(language: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"
    import matplotlib.pyplot as plt

    text = TEXT[language]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.2))
    xs, ys, sent, _ = bucket(2.0, spare=2)
    nx, ny, _, refused = bucket(4.0, spare=0)
    left.plot(nx, ny, "--", color="#e07b24",
              label=f"{text['naive']} ({text['refused'].format(n=refused)})")
    left.plot(xs, ys, "-", color="#1f6fb4", lw=2, label=text["ours"])
    left.plot(xs, sent, ":", color="#1f6fb4", lw=1.5, label=text["sent"])
    left.axhline(50, color="#b22222", lw=1)
    left.text(-1.5, 52, text["limit"], fontsize=8, color="#b22222")
    left.set_ylim(0, 90)
    left.set_xlabel(text["seconds"])
    left.set_ylabel(text["level"])
    left.set_title(text["bucket"], fontsize=10)
    left.legend(fontsize=8, loc="lower right")
    left.grid(alpha=0.3)

    bx, by = budget(paced=True)
    nx2, ny2 = budget(paced=False)
    right.plot(nx2, ny2, "--", color="#e07b24", label=text["naive_b"])
    right.plot(bx, by, "-", color="#1f6fb4", lw=2, label=text["ours_b"])
    right.axhline(480, color="#b22222", lw=1)
    right.axhline(384, color="#888888", lw=1, ls=":")
    right.text(0.2, 490, text["wall"], fontsize=8, color="#b22222")
    right.text(0.2, 392, text["slow"], fontsize=8, color="#555555")
    right.set_ylim(0, 560)
    right.set_xlabel(text["minutes"])
    right.set_ylabel(text["used"])
    right.set_title(text["budget"], fontsize=10)
    right.legend(fontsize=8, loc="lower right")
    right.grid(alpha=0.3)
    fig.tight_layout()
    path = OUT / f"limits-{language}.svg"
    fig.savefig(path, format="svg")
    plt.close(fig)
    return path


if __name__ == "__main__":
    for language in TEXT:
        print(draw(language))
