"""Customer-service domain text for synthetic speech: digits, numbers, amounts, dates, times, spelled letters
(plain and NATO), confirmations, IVR commands, account/order/phone phrases and typical caller requests.

Everything is spelled out in the corpus's transcript convention (lowercase words, letters as single characters).
`sentences(n, seed, banned)` is deterministic for a seed; `banned` removes held-out transcripts (see synthesise.py).
"""
import random

ONES = "zero one two three four five six seven eight nine".split()
TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
NATO_RAW = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
        "quebec romeo sierra tango uniform victor whiskey x_ray yankee zulu").split()
NATO = [w.replace("_", " ") for w in NATO_RAW]
MONTHS = "january february march april may june july august september october november december".split()
ORDINALS = ("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
            "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth").split()
DAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]


def number_words(n: int) -> str:
    if n < 10:
        return ONES[n]
    if n < 20:
        return TEENS[n - 10]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    if n < 1_000_000:
        rest = n % 1000
        return number_words(n // 1000) + " thousand" + ("" if rest == 0 else " " + number_words(rest))
    rest = n % 1_000_000
    return number_words(n // 1_000_000) + " million" + ("" if rest == 0 else " " + number_words(rest))


def ordinal_words(n: int) -> str:
    if n <= 20:
        return ORDINALS[n - 1]
    tens = TENS[n // 10]
    return tens[:-1] + "ieth" if n % 10 == 0 else tens + " " + ORDINALS[n % 10 - 1]


def digits(r: random.Random, lo: int, hi: int) -> str:
    return " ".join(r.choice(ONES + ["oh"] if r.random() < 0.1 else ONES) for _ in range(r.randint(lo, hi)))


def year(r: random.Random) -> str:
    y = r.randint(1950, 2035)
    if 2000 <= y < 2010:
        return number_words(y)
    return number_words(y // 100) + " " + (number_words(y % 100) if y % 100 >= 10 else
                                            "hundred" if y % 100 == 0 else "oh " + ONES[y % 10])


def amount(r: random.Random) -> str:
    d = r.choice([r.randint(1, 20), r.randint(20, 200), r.randint(100, 5000)])
    s = number_words(d) + (" dollar" if d == 1 else " dollars")
    if r.random() < 0.5:
        c = r.randint(1, 99)
        s += " and " + number_words(c) + (" cent" if c == 1 else " cents")
    return s


def date(r: random.Random) -> str:
    m, d = r.choice(MONTHS), ordinal_words(r.randint(1, 28))
    form = r.random()
    if form < 0.4:
        return f"{m} {d}"
    if form < 0.7:
        return f"{m} {d} {year(r)}"
    return f"the {d} of {m}"


def time_of_day(r: random.Random) -> str:
    h, m = r.randint(1, 12), r.choice([0, 15, 30, 45, r.randint(1, 59)])
    mm = "o'clock" if m == 0 else ("oh " + ONES[m] if m < 10 else number_words(m))
    return f"{number_words(h)} {mm}" + r.choice(["", " a m", " p m", " in the morning", " in the afternoon"])


def spelled(r: random.Random) -> str:
    n = r.randint(2, 7)
    if r.random() < 0.35:
        return " ".join(r.choice(NATO) for _ in range(n))
    return " ".join(r.choice(LETTERS + ONES) if r.random() < 0.25 else r.choice(LETTERS) for _ in range(n))


CONFIRM = ["yes", "no", "yes please", "no thank you", "yeah", "nope", "correct", "that's correct", "that is right",
           "that's wrong", "okay", "sure", "absolutely", "not really", "i'm not sure", "yes that's right",
           "no that's not right", "confirm", "cancel", "go back", "repeat that", "say that again", "stop", "go",
           "up", "down", "left", "right", "on", "off", "help", "enter", "erase", "rubout", "start over"]
IVR = ["main menu", "operator", "agent", "representative", "billing", "technical support", "sales", "press one",
       "press two", "pound", "star", "speak to a person", "customer service", "account balance",
       "payment options", "store hours", "next", "previous", "skip", "transfer me"]
REQUESTS = [
    "i want to talk to an agent", "can i speak to a representative", "check my balance", "what is my balance",
    "cancel my order", "i'd like to cancel my subscription", "where is my order", "track my package",
    "i want to make a payment", "pay my bill", "i need to reset my password", "i forgot my pin",
    "update my address", "change my phone number", "report a lost card", "my card was stolen",
    "i have a question about my bill", "there is a charge i don't recognize", "i want a refund",
    "book an appointment", "reschedule my appointment", "what are your opening hours", "speak to billing",
    "connect me to technical support", "my internet is not working", "i'd like to upgrade my plan",
    "activate my new card", "close my account", "open a new account", "transfer money to savings",
    "i'm calling about an order", "can you repeat that please", "i didn't catch that", "hold on a second",
    "just a moment", "thank you very much", "that's all for today", "goodbye", "hello", "hi there",
    "good morning", "good afternoon", "i need help", "is anybody there", "please call me back",
]
TEMPLATES = [
    lambda r: f"my account number is {digits(r, 6, 10)}",
    lambda r: f"my phone number is {digits(r, 3, 3)} {digits(r, 3, 3)} {digits(r, 4, 4)}",
    lambda r: f"the order number is {r.choice(LETTERS)} {digits(r, 4, 8)}",
    lambda r: f"my order number is {spelled(r)} {digits(r, 2, 5)}",
    lambda r: f"my zip code is {digits(r, 5, 5)}",
    lambda r: f"the last four digits are {digits(r, 4, 4)}",
    lambda r: f"my pin is {digits(r, 4, 6)}",
    lambda r: f"i want to pay {amount(r)}",
    lambda r: f"my balance is {amount(r)}",
    lambda r: f"i was charged {amount(r)} on {date(r)}",
    lambda r: f"my date of birth is {date(r)}",
    lambda r: f"can i book for {DAYS[r.randrange(7)]} at {time_of_day(r)}",
    lambda r: f"the appointment is on {date(r)} at {time_of_day(r)}",
    lambda r: f"my name is spelled {spelled(r)}",
    lambda r: f"that's {spelled(r)}",
    lambda r: f"{r.choice(CONFIRM)} {r.choice(REQUESTS)}",
    lambda r: f"{r.choice(REQUESTS)} please",
    lambda r: f"{r.choice(['yes', 'no', 'okay'])} my account number is {digits(r, 5, 8)}",
    lambda r: f"{r.choice(IVR)}",
    lambda r: f"{r.choice(['i want', 'i need', 'give me', 'connect me to'])} {r.choice(IVR)}",
    lambda r: f"press {r.choice(ONES)}",
    lambda r: f"extension {digits(r, 3, 4)}",
    lambda r: number_words(r.randint(0, 100)),
    lambda r: number_words(r.choice([r.randint(100, 999), r.randint(1000, 99999)])),
    lambda r: digits(r, 1, 12),
    lambda r: spelled(r),
    lambda r: amount(r),
    lambda r: date(r),
    lambda r: time_of_day(r),
    lambda r: r.choice(CONFIRM),
    lambda r: r.choice(REQUESTS),
]


def sentences(n: int, seed: int, banned: set[str]) -> list[str]:
    """n distinct-ish domain sentences; none equals a banned transcript or contains a banned multi-word one."""
    r = random.Random(seed)
    banned_long = [b for b in banned if len(b.split()) >= 3]
    out = []
    while len(out) < n:
        s = " ".join(r.choice(TEMPLATES)(r).split())
        if s in banned or any(b in s for b in banned_long):
            continue
        out.append(s)
    return out
