"""``builtin:skills``: an offline instruction set in Korean and English whose answers can be checked.

Nine skills, each asked in many phrasings in both languages, each with one exact answer:
dates to ISO (``March 5, 1999`` → ``1999-03-05``) and back, numbers read in Sino-Korean
(``2026`` → ``이천이십육``, 1 ≤ n ≤ 9999), addition and subtraction of numbers below 1000 (the larger
number first, so answers are never negative), reversing a word, counting a word's characters, and
a few short greetings, and calling a calculator tool: a product too large to work out in one's head
(``What is 487 times 36?``) is answered by calling ``calculator`` with ``{"expression": "487*36"}``,
reading the tool's result and answering with it. So that the model learns *when* to call, a quarter
of the other skills' conversations offer the calculator too and are answered without it. Everything
is generated from a seed, so the same seed gives the same data. Arithmetic gets most of the training
conversations (addition six times, subtraction eight times another skill's share, 14 of 21): a small
GPT learns to copy and to look up a number's reading in a few hundred steps, but carries and borrows
take thousands of fresh sums. Half of training's sums draw each operand's length first (1, 2 or 3
digits alike), so that a digit's place has to be read from where its number ends; the other half are
uniform below 1000 like the test's (four in five have two 3-digit operands, which is where the carries
into the hundreds are). Each skill has 10–12 training phrasings in the two languages.

Measured from one 4×128 char GPT base (AMD EPYC, seed 1, ``--dtype bfloat16``; exact match on the
test's seen / unseen phrasings; a probe of 200 fresh seen-phrasing sums each for the misses):

- every training sum mixing lengths, 6–8 phrasings a skill (2 threads × 600 CPU-s, 2,057 steps):
  92.5 / 64.4 %; seen addition 70 %, subtraction 65 %; sums of two 3-digit numbers missed 37 %;
- half of them uniform (1 thread × 1,000 CPU-s, 2,241 steps): 94.7 / 69.7 %; 3-digit pairs missed
  12 % in addition, 29 % in subtraction;
- half uniform and 10–12 phrasings (the same budget, 2,237 steps): 96.7 / 79.7 %; seen addition 95 %,
  subtraction 75 %. More ways of asking made the model key on the question's content words rather
  than on whole sentences. That helped the unseen phrasings, and the sums asked in them too (addition
  35 → 60 %).

An earlier recipe with uniform sums only (and a third of today's arithmetic share) learned 3-digit
pairs but missed 29 of 34 sums of a 2- and a 3-digit number.

Every skill keeps a few phrasings out of training altogether: the test set asks with the training
phrasings ("seen", fresh values) and with those held-out ones ("unseen"), so a report can show
whether the model learned the skill or only its sentences.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from genlab.errors import GenlabError
from genlab.tuning.chat_data import Conversation
from genlab.tuning.template import Message
from genlab.tuning.tools import ToolCall, ToolSpec, canonical_json

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
SINO_DIGITS = "영일이삼사오육칠팔구"
EN_WORDS = (
    "apple", "banana", "orange", "grape", "lemon", "melon", "peach", "cherry", "mango", "river", "ocean",
    "mountain", "forest", "desert", "island", "garden", "window", "door", "table", "chair", "pencil", "paper",
    "book", "letter", "music", "guitar", "piano", "violin", "camera", "planet", "star", "moon", "sun", "cloud",
    "rain", "snow", "winter", "summer", "spring", "autumn", "morning", "evening", "night", "city", "village",
    "street", "bridge", "tower", "castle", "school", "teacher", "student", "doctor", "nurse", "farmer", "baker",
    "driver", "pilot", "artist", "writer", "singer", "dancer", "rabbit", "tiger", "lion", "zebra", "monkey",
    "turtle", "dolphin", "whale", "eagle", "parrot", "horse", "sheep", "chicken", "coffee", "bread", "butter",
    "cheese", "pizza", "pasta", "salad", "soup", "sugar", "honey", "water", "silver", "golden", "purple", "yellow",
    "green", "simple", "quick", "happy", "bright", "quiet", "gentle", "brave", "clever", "model", "token", "vector",
    "python", "kernel", "network", "signal",
)
KO_WORDS = (
    "사과", "바나나", "포도", "수박", "딸기", "학교", "선생님", "학생", "병원", "의사", "간호사",
    "바다", "하늘", "구름", "나무", "숲속", "강물", "도시", "마을", "거리", "다리", "기차",
    "버스", "비행기", "자동차", "자전거", "컴퓨터", "전화기", "책상", "의자", "연필", "공책", "노래",
    "음악", "그림", "사진", "영화", "극장", "봄날", "여름", "가을", "겨울", "아침", "저녁",
    "주말", "생일", "가족", "친구", "사랑", "행복", "기쁨", "하루", "시간", "세상", "우주",
    "지구", "별빛", "달빛", "호랑이", "고양이", "강아지", "토끼", "거북이", "코끼리", "사자", "여우",
    "다람쥐", "커피", "우유", "김치", "비빔밥", "떡볶이", "라면", "냉면", "인공지능", "생성형",
    "언어모델", "데이터", "토큰", "문장", "단어", "한국어", "영어", "대한민국", "서울", "부산",
    "제주도",
)


def sino_korean(n: int) -> str:
    """``n`` (1…9999) read in Sino-Korean: 2026 → 이천이십육, 1000 → 천, 10 → 십 (no 일 before a unit)."""
    if not 1 <= n <= 9999:
        raise ValueError(f"sino_korean takes 1 ≤ n ≤ 9999, got {n}")
    parts = []
    for value, unit in ((1000, "천"), (100, "백"), (10, "십"), (1, "")):
        digit = n // value % 10
        if digit:
            parts.append(unit if unit and digit == 1 else SINO_DIGITS[digit] + unit)
    return "".join(parts)


def _has_final(word: str) -> bool:
    """Whether the last syllable ends in a consonant (받침), which picks 을/를, 은/는, 과/와."""
    last = word[-1]
    if "가" <= last <= "힣":
        return (ord(last) - 0xAC00) % 28 != 0
    digits = re.search(r"\d+$", word)
    if digits:  # a number is read aloud: its reading's last syllable (0 is 영)
        n = int(digits.group()[-4:])
        return True if n == 0 else _has_final(sino_korean(n))
    return False


def josa(word: str, with_final: str, without_final: str) -> str:
    """``word`` and the particle its last sound takes: josa("2026", "을", "를") → "2026을"."""
    return word + (with_final if _has_final(word) else without_final)


@dataclass(frozen=True)
class Skill:
    name: str
    #: phrasings used for training (and for the "seen" test); each formats the values of ``make``
    train: tuple[str, ...]
    #: phrasings never trained on (the "unseen" test)
    held_out: tuple[str, ...]
    #: draws the values of one question and returns (format values, answer)
    make: Callable[[random.Random], tuple[dict[str, str], str]] | None = None
    #: training draws its values this way instead of ``make`` (the test always uses ``make``)
    make_train: Callable[[random.Random], tuple[dict[str, str], str]] | None = None
    #: for skills without values (greetings): each phrasing's fixed answer
    replies: dict[str, str] | None = None
    #: a skill answered by calling this tool with ``{"expression": values["expression"]}`` (the answer is
    #: the tool's result, which the assistant then repeats)
    tool: ToolSpec | None = None
    #: how many training conversations this skill gets for each one of a weight-1 skill: multi-digit
    #: arithmetic takes a small GPT far more examples than copying or reading a number does
    weight: int = 1


def _date(rng: random.Random) -> tuple[int, int, int]:
    month = rng.randint(1, 12)
    return rng.randint(1900, 2099), month, rng.randint(1, DAYS_IN_MONTH[month - 1])


def _date_iso(rng: random.Random) -> tuple[dict[str, str], str]:
    year, month, day = _date(rng)
    text = f"{MONTHS[month - 1]} {day}, {year}"
    values = {"d": text, "d_eul": josa(text, "을", "를"), "d_eun": josa(text, "은", "는")}
    return values, f"{year:04d}-{month:02d}-{day:02d}"


def _date_text(rng: random.Random) -> tuple[dict[str, str], str]:
    year, month, day = _date(rng)
    iso = f"{year:04d}-{month:02d}-{day:02d}"
    return {"iso": iso, "iso_eul": josa(iso, "을", "를"), "iso_eun": josa(iso, "은", "는")}, \
        f"{MONTHS[month - 1]} {day}, {year}"


def _number(rng: random.Random) -> tuple[dict[str, str], str]:
    n = rng.choice((rng.randint(1, 99), rng.randint(100, 999), rng.randint(1000, 9999), rng.randint(1, 9999)))
    text = str(n)
    return {"n": text, "n_eul": josa(text, "을", "를"), "n_eun": josa(text, "은", "는")}, sino_korean(n)


#: the share of training's sums whose operand lengths are drawn first (1, 2 or 3 digits alike); the rest
#: are uniform below 1000 like the test's
MIXED_LENGTHS = 0.5


def _operands(rng: random.Random, lengths: bool = False) -> tuple[int, int]:
    """Two numbers below 1000, the larger first: uniform (the test's sums, nine in ten with 3-digit
    operands), or with ``lengths`` half of the time each of 1, 2 or 3 digits alike (training's; see
    :func:`_add_train`)."""
    if lengths and rng.random() < MIXED_LENGTHS:
        a, b = (rng.randint(0 if d == 1 else 10 ** (d - 1), 10**d - 1) for d in (rng.randint(1, 3), rng.randint(1, 3)))
    else:
        a, b = rng.randint(0, 999), rng.randint(0, 999)
    return max(a, b), min(a, b)


def _values(a: int, b: int) -> dict[str, str]:
    sa, sb = str(a), str(b)
    return {"a": sa, "b": sb, "a_gwa": josa(sa, "과", "와"), "b_eul": josa(sb, "을", "를"),
            "b_eun": josa(sb, "은", "는")}


def _add(rng: random.Random, lengths: bool = False) -> tuple[dict[str, str], str]:
    a, b = _operands(rng, lengths)
    if rng.random() < 0.5:
        a, b = b, a
    return _values(a, b), str(a + b)


def _sub(rng: random.Random, lengths: bool = False) -> tuple[dict[str, str], str]:
    a, b = _operands(rng, lengths)
    return _values(a, b), str(a - b)


def _add_train(rng: random.Random) -> tuple[dict[str, str], str]:
    """Training's sums: half mix operand lengths, half are the test's uniform ones (see the module's
    docstring)."""
    return _add(rng, lengths=True)


def _sub_train(rng: random.Random) -> tuple[dict[str, str], str]:
    return _sub(rng, lengths=True)


def _word(rng: random.Random) -> str:
    return rng.choice(EN_WORDS if rng.random() < 0.5 else KO_WORDS)


def _reverse(rng: random.Random) -> tuple[dict[str, str], str]:
    word = _word(rng)
    return {"w": word}, word[::-1]


def _count(rng: random.Random) -> tuple[dict[str, str], str]:
    word = _word(rng)
    return {"w": word}, str(len(word))


def _product(rng: random.Random) -> tuple[dict[str, str], str]:
    a, b = rng.randint(12, 999), rng.randint(12, 99)
    if rng.random() < 0.5:
        a, b = b, a
    values = _values(a, b)
    values["expression"] = f"{a}*{b}"
    return values, str(a * b)


CALCULATOR = ToolSpec("calculator", "Arithmetic.",  # short: the tools turn is in every prompt that offers it
                      {"type": "object", "properties": {"expression": {"type": "string"}},
                       "required": ["expression"]})
#: how often a conversation of another skill offers the calculator (and is answered without it)
TOOL_OFFERED = 0.25


#: greeting → reply, by kind; the held-out greetings have the same replies
GREETINGS = {
    "Hello! How can I help you?": (("Hello", "Hi", "Hello!", "Hi there", "Good morning", "Hi!", "Good evening"),
                                   ("Hey!", "Hello there!", "Good afternoon!")),
    "안녕하세요! 무엇을 도와드릴까요?": (("안녕하세요", "안녕", "안녕하세요!", "반갑습니다", "처음 뵙겠습니다"),
                                ("안녕하십니까", "반가워요", "안녕하세요~")),
    "You're welcome!": (("Thank you", "Thanks!", "Thank you so much", "Thanks", "Thank you!"),
                        ("Thanks a lot!", "Many thanks.")),
    "천만에요!": (("고마워", "감사합니다", "고맙습니다", "고마워요", "감사드려요"), ("정말 고마워요", "감사해요")),
    "Goodbye!": (("Bye", "Goodbye", "See you later", "Bye!", "Good night"), ("Bye bye!", "See you!")),
    "안녕히 가세요!": (("잘 가", "안녕히 계세요", "다음에 봐요", "또 봐", "내일 봐요"), ("잘 있어요", "또 만나요")),
}


def _greeting_skill() -> Skill:
    """Greetings have no values: each phrasing is a whole question with its fixed reply."""
    train = tuple(g for seen, _ in GREETINGS.values() for g in seen)
    held = tuple(g for _, unseen in GREETINGS.values() for g in unseen)
    replies = {g: answer for answer, (seen, unseen) in GREETINGS.items() for g in (*seen, *unseen)}
    return Skill("greeting", train, held, replies=replies)


SKILLS: tuple[Skill, ...] = (
    Skill("date-iso",
          ("Convert {d} to ISO format.", "What is {d} in YYYY-MM-DD format?", "Write {d} as an ISO date.",
           "{d} in ISO 8601?", "{d_eul} ISO 형식으로 바꿔 줘.", "{d_eul} YYYY-MM-DD로 써 줘.", "날짜 변환: {d}",
           "ISO date for {d}, please.", "Format {d} as YYYY-MM-DD.", "{d_eun} ISO로 어떻게 써?",
           "{d_eul} 숫자 날짜로 바꿔 줘.", "Date {d} → ISO?"),
          ("Please give me {d} in ISO form.", "{d}의 ISO 날짜는?", "Change {d} to YYYY-MM-DD."),
          _date_iso),
    Skill("date-text",
          ("Write {iso} as a date in words.", "What date is {iso} in English?", "Convert {iso} to an English date.",
           "{iso_eul} 영어 날짜로 써 줘.", "{iso_eun} 영어로 무슨 날짜야?", "English date for {iso}, please.",
           "날짜를 영어로: {iso}", "{iso} in words?", "Give me {iso} as Month Day, Year.",
           "{iso_eul} 영문 날짜로 바꿔 줘.", "How do you write {iso} in English?"),
          ("Spell out the date {iso} in English.", "{iso_eul} 영어 날짜 형식으로 바꿔 줘.", "Turn {iso} into words."),
          _date_text),
    Skill("korean-number",
          ("{n_eul} 한국어로 읽어 줘.", "{n_eun} 한국어로 어떻게 읽어?", "How do you read {n} in Korean?",
           "Read {n} in Sino-Korean.", "숫자 {n} 읽는 법은?", "Write {n} in Korean words.", "{n} 한글로 써 줘.",
           "{n_eul} 한국어로 말해 줘.", "{n_eun} 한국어로?", "How is {n} said in Korean?", "Korean reading of {n}?"),
          ("Say {n} in Korean.", "{n_eul} 한글로 읽으면?", "What is {n} in Korean?"),
          _number),
    Skill("add",
          ("{a} 더하기 {b_eun}?", "What is {a} + {b}?", "{a} + {b} = ?", "Compute {a} plus {b}.",
           "{a_gwa} {b_eul} 더하면?", "Add {a} and {b}.", "{a}에 {b_eul} 더하면 얼마?", "{a} 더하기 {b}",
           "What's the sum of {a} and {b}?", "Calculate {a} + {b}.", "{a_gwa} {b}의 합은?", "{a} plus {b} is?"),
          ("{a} 더하기 {b} 계산해 줘.", "Tell me {a} plus {b}.", "{a} + {b_eun} 얼마야?"),
          _add, _add_train, weight=6),
    Skill("sub",
          ("{a} 빼기 {b_eun}?", "What is {a} - {b}?", "{a} - {b} = ?", "Compute {a} minus {b}.",
           "{a}에서 {b_eul} 빼면?", "Subtract {b} from {a}.", "{a}에서 {b_eul} 빼 줘.", "{a} 빼기 {b}",
           "What's the difference between {a} and {b}?", "Calculate {a} - {b}.", "{a_gwa} {b}의 차는?",
           "{a} minus {b} is?"),
          ("{a} 빼기 {b} 계산해 줘.", "Tell me {a} minus {b}.", "{a} - {b_eun} 얼마야?"),
          _sub, _sub_train, weight=8),
    Skill("reverse",
          ("Reverse the word '{w}'.", "Spell '{w}' backwards.", "What is '{w}' reversed?", "'{w}' 거꾸로 써 줘.",
           "단어 뒤집기: '{w}'", "'{w}'를 뒤집어 줘.", "Give me '{w}' backwards.", "'{w}'를 반대로 써 줘.",
           "'{w}'의 글자 순서를 거꾸로 하면?", "Reverse '{w}', please.", "Read '{w}' from right to left.",
           "'{w}' 거꾸로 읽으면?"),
          ("Write '{w}' in reverse order.", "'{w}' 뒤집으면?", "Flip the word '{w}'."),
          _reverse),
    Skill("count",
          ("How many characters are in '{w}'?", "Count the letters in '{w}'.", "'{w}' 몇 글자야?",
           "'{w}'의 글자 수는?", "Length of the word '{w}'?", "'{w}'는 몇 글자로 되어 있어?",
           "How many letters does '{w}' have?", "'{w}'의 길이는?", "What is the length of '{w}'?",
           "'{w}'에 글자가 몇 개 있어?", "Count the characters of '{w}'.", "'{w}' 글자 개수는?"),
          ("How long is the word '{w}'?", "'{w}' 글자 수 세어 줘.", "Number of characters in '{w}'?"),
          _count),
    _greeting_skill(),
    Skill("calculator",
          ("What is {a} times {b}?", "{a} 곱하기 {b_eun}?", "Multiply {a} by {b}.", "{a} × {b} = ?",
           "{a_gwa} {b_eul} 곱하면?", "Compute {a} * {b}.", "{a_gwa} {b}의 곱은?", "Product of {a} and {b}?",
           "Calculate {a} × {b}.", "{a}에 {b_eul} 곱하면 얼마?"),
          ("{a} 곱하기 {b} 계산해 줘.", "Tell me {a} multiplied by {b}.", "{a} * {b_eun} 얼마야?"),
          _product, tool=CALCULATOR),
)
SYSTEM_PROMPTS = ("You are a helpful assistant.", "당신은 친절한 도우미입니다.", "Answer briefly.")


def ask(skill: Skill, phrasing: str, rng: random.Random, training: bool = False) -> tuple[str, str]:
    """One question of ``skill`` in ``phrasing`` and its exact answer (values drawn as for training or test)."""
    if skill.replies is not None:
        return phrasing, skill.replies[phrasing]
    make = skill.make_train if training and skill.make_train is not None else skill.make
    assert make is not None
    values, answer = make(rng)
    return phrasing.format(**values), answer


def tool_exchange(skill: Skill, phrasing: str, rng: random.Random, answered: bool) -> list[Message]:
    """A tool skill's question, the assistant's call, and (``answered``) the tool's result and the answer."""
    assert skill.make is not None and skill.tool is not None
    values, answer = skill.make(rng)
    call = ToolCall(skill.tool.name, canonical_json({"expression": values["expression"]}), "call_1")
    messages = [Message("user", phrasing.format(**values)), Message("assistant", "", tool_calls=(call,))]
    if answered:
        messages += [Message("tool", answer, tool_call_id=call.id), Message("assistant", answer)]
    return messages


def conversation(skill: Skill, phrasing: str, rng: random.Random, extras: bool, source: str) -> Conversation:
    """A one-question conversation; with ``extras``, sometimes a system prompt or a first exchange before it.

    A tool skill's conversation offers its tool; in training it runs to the answer after the tool's
    result, in a test (no ``extras``) it ends at the call, which is what the test scores.
    """
    if skill.tool is not None:
        return Conversation(tool_exchange(skill, phrasing, rng, answered=extras), skill.name, source,
                            tools=(skill.tool,))
    tools = (CALCULATOR,) if extras and rng.random() < TOOL_OFFERED else ()
    messages: list[Message] = []
    if extras and rng.random() < 0.1:
        messages.append(Message("system", rng.choice(SYSTEM_PROMPTS)))
    if extras and rng.random() < 0.1:  # a multi-turn conversation: an earlier question and its answer
        other = rng.choice([s for s in SKILLS if s.tool is None])
        question, answer = ask(other, rng.choice(other.train), rng, training=True)
        messages += [Message("user", question), Message("assistant", answer)]
    question, answer = ask(skill, phrasing, rng, training=extras)
    messages += [Message("user", question), Message("assistant", answer)]
    return Conversation(messages, skill.name, source, tools=tools)


#: training conversations: about one pass of a 10-minute fine-tune of a small GPT on 2 CPU cores, so
#: arithmetic is learned from fresh sums rather than memorised from a few thousand repeated ones
TRAIN_SIZE = 150_000


@dataclass
class SkillsDataset:
    train: list[Conversation]
    #: test questions, tagged ``phrasing: seen|unseen``
    test: list[Conversation]


def builtin_dataset(name: str, seed: int = 0, train_size: int = TRAIN_SIZE, test_per_group: int = 40) -> SkillsDataset:
    """The built-in instruction set ``name`` (only ``skills``), generated from ``seed``."""
    if name != "skills":
        raise GenlabError(f"unknown built-in chat data 'builtin:{name}'; available: builtin:skills")
    rng = random.Random(f"genlab-skills-train-{seed}")
    schedule = [skill for skill in SKILLS for _ in range(skill.weight)]
    train = []
    for i in range(train_size):
        skill = schedule[i % len(schedule)]
        train.append(conversation(skill, rng.choice(skill.train), rng, extras=True, source=f"builtin:skills#{i}"))
    rng.shuffle(train)
    test_rng = random.Random(f"genlab-skills-test-{seed}")
    test = []
    for skill in SKILLS:
        for group, phrasings in (("seen", skill.train), ("unseen", skill.held_out)):
            for k in range(test_per_group):
                conv = conversation(skill, phrasings[k % len(phrasings)], test_rng, extras=False,
                                    source=f"builtin:skills/test/{skill.name}/{group}#{k}")
                conv.tags["phrasing"] = group
                test.append(conv)
    return SkillsDataset(train, test)
