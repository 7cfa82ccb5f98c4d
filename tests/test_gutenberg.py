"""Gutenberg cleaning for Book-SORT: header/footer, front matter, headings and back matter go; the prose
stays, complete, in order and reflowed. All books here are fakes built in the test (no network)."""

from __future__ import annotations

import re
import textwrap

import pytest

from data_builders.gutenberg import CleanText, clean_book, is_gutenberg

# --- building fake books ----------------------------------------------------------------------------

HEADER = """\
The Project Gutenberg eBook of The Example Book

This ebook is for the use of anyone anywhere in the United States and
most other parts of the world at no cost and with almost no restrictions
whatsoever. You may copy it, give it away or re-use it under the terms
of the Project Gutenberg License included with this ebook or online
at www.gutenberg.org. If you are not located in the United States,
you will have to check the laws of the country where you are located
before using this eBook.

Title: The Example Book

Author: Jane Q. Writer

Release date: March 3, 2021 [eBook #99999]

Language: English

Credits: Produced by A. Volunteer and the Online Distributed Proofreading Team


*** START OF THE PROJECT GUTENBERG EBOOK THE EXAMPLE BOOK ***




"""

FOOTER = """\

End of the Project Gutenberg EBook of The Example Book, by Jane Q. Writer

*** END OF THE PROJECT GUTENBERG EBOOK THE EXAMPLE BOOK ***

Updated editions will replace the previous one--the old editions will
be renamed.

Creating the works from print editions not protected by U.S. copyright
law means that no one owns a United States copyright in these works,
so the Foundation (and you!) can copy and distribute it in the
United States without permission and without paying copyright
royalties. Special rules, set forth in the General Terms of Use part
of this license, apply to copying and distributing Project
Gutenberg-tm electronic works to protect the PROJECT GUTENBERG-tm
concept and trademark.

START: FULL LICENSE

THE FULL PROJECT GUTENBERG LICENSE
PLEASE READ THIS BEFORE YOU DISTRIBUTE OR USE THIS WORK

Section 1. General Terms of Use and Redistributing Project Gutenberg-tm
electronic works

1.A. By reading or using any part of this Project Gutenberg-tm
electronic work, you indicate that you have read, understand, agree to
and accept all the terms of this license and intellectual property
(trademark/copyright) agreement.
"""

TITLE_PAGE = """\
Produced by A. Volunteer and the Online Distributed
Proofreading Team at https://www.pgdp.net (This file was
produced from images generously made available by The
Internet Archive)

[Illustration: "She stood at the gate."]

THE EXAMPLE BOOK

A Novel

BY

JANE Q. WRITER

Author of "Another Book," "A Third Book," etc.

[Illustration]

LONDON
SMITH, ELDER & CO., 15 WATERLOO PLACE
1899

_All rights reserved_

"""

CONTENTS_BLOCK = """\
CONTENTS

CHAPTER I. The Arrival at Thornfield
CHAPTER II. A Storm upon the Moor
CHAPTER III. The Long Road Home

"""

CONTENTS_SPACED = """\
TABLE OF CONTENTS

CHAPTER I. The Arrival at Thornfield

CHAPTER II. A Storm upon the Moor

CHAPTER III. The Long Road Home

"""

PREFACE = """\
PREFACE

This preface explains at some length why the author undertook the labour
of writing the present volume, thanks several friends by name for their
patience, and begs the indulgence of the reader for the many faults that
a careful eye will no doubt discover in the chapters which follow.

J. Q. W.
LONDON, _May 1899_.

"""

# The chapters' prose: each paragraph a list of sentences. Dialogue paragraphs are one short line.
CHAPTERS: list[tuple[str, list[list[str]]]] = [
    ("CHAPTER I.\n\nTHE ARRIVAL AT THORNFIELD", [
        ["The coach set Martha down at the foot of the hill a little after four o'clock.",
         "She stood for a while in the thin rain, looking up at the grey house above the orchard,"
         " and wondered whether anybody inside had heard the wheels.",
         "Nobody came down the path to meet her, and at last she picked up her box herself."],
        ['"Yes," said he.'],
        ['"Where are you going?" asked the porter.'],
        ["She did not answer him at once, for the wind had caught her hat and she was _very_ busy"
         " holding it to her head with both hands.",
         "When she had it safe again she said that she was going to the house, and that she was"
         " expected there, though she was no longer quite sure of it."],
        ["No."],
    ]),
    ("CHAPTER II.\nA STORM UPON THE MOOR", [
        ["The storm broke over the moor in the middle of the night.",
         "Martha woke to the sound of the shutters beating against the wall of her room and lay"
         " listening to the long roar of the wind in the chimneys.",
         "Somewhere below a door slammed, and then another, and then the whole house was quiet again."],
        ["In the morning the orchard was full of broken branches.",
         "The gardener walked among them with his hands in his pockets, shaking his head and"
         " counting the trees that would never bear again."],
        ['"It was a bad night," he said.'],
    ]),
    ("CHAPTER III\nThe Long Road Home", [
        ["Three weeks later she left the house as she had come to it, on foot and in the rain.",
         "The porter carried her box down to the road this time and waited with her until the coach"
         " appeared at the turn below the mill.",
         "Neither of them spoke of the storm, and neither of them spoke of the master of the house."],
        ["Well-known faces met her in the village, and she was glad of every one of them.",
         "She thought that she would not go back to Thornfield again, whatever they might write to her."],
    ]),
]

BACK_MATTER = """\

THE END

FOOTNOTES:

[1] The house is said to be modelled on a real one near Harrogate.

ADVERTISEMENTS

NEW NOVELS BY THE SAME AUTHOR

A Third Book. A story of the fells. Crown 8vo, 6s. This delightful novel has
been praised by every newspaper of consequence in the kingdom.
"""

SEPARATOR = "\n* * * * *\n\n"


def wrap(sentences: list[str]) -> str:
    """A paragraph as Gutenberg writes it: wrapped at 70 columns."""
    return textwrap.fill(" ".join(sentences), width=70, break_long_words=False, break_on_hyphens=False)


def chapters_text(chapters=CHAPTERS, separator_after: int = 1) -> str:
    parts = []
    for heading, paras in chapters:
        parts.append(heading + "\n\n")
        for k, para in enumerate(paras):
            parts.append(wrap(para) + "\n\n")
            if heading.startswith("CHAPTER II.") and k == separator_after:
                parts.append(SEPARATOR)
    return "\n".join(parts)


def expected_prose(chapters=CHAPTERS) -> str:
    paras = [" ".join(p) for _, ps in chapters for p in ps]
    return "\n\n".join(paras).replace("_very_", "very")


def fake_book(contents: str = CONTENTS_BLOCK) -> str:
    return HEADER + TITLE_PAGE + contents + PREFACE + chapters_text() + BACK_MATTER + FOOTER


def nonblank(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


HEADING_RE = re.compile(r"^(?:chapter|book|part|section)\b|^[IVXLC]+\.?$|^THE END$", re.IGNORECASE)


def assert_no_headings(text: str) -> None:
    for para in text.split("\n\n"):
        assert not HEADING_RE.match(para), para
        letters = [c for c in para if c.isalpha()]
        assert not (letters and all(c.isupper() for c in letters) and not para.startswith('"')), para


# --- the full fake Gutenberg book -------------------------------------------------------------------


@pytest.mark.parametrize("contents", [CONTENTS_BLOCK, CONTENTS_SPACED], ids=["block", "spaced"])
def test_full_book_keeps_exactly_the_prose(contents):
    raw = fake_book(contents)
    assert is_gutenberg(raw)
    out = clean_book(raw)
    assert isinstance(out, CleanText)
    assert out.title == "The Example Book"
    # Every prose sentence, in order, reflowed; nothing else.
    assert out.text == expected_prose()
    # All kept lines are the chapters' wrapped prose lines; everything else is counted as removed.
    kept = sum(nonblank(wrap(p)) for _, ps in CHAPTERS for p in ps)
    assert out.removed_lines == nonblank(raw) - kept


def test_full_book_boilerplate_front_and_back_matter_gone():
    out = clean_book(fake_book()).text
    for word in ("Project Gutenberg", "Gutenberg", "license", "License", "Produced by", "pgdp",
                 "Illustration", "CONTENTS", "PREFACE", "preface", "Thornfield\n", "Long Road Home",
                 "A Storm upon", "SMITH, ELDER", "All rights reserved", "FOOTNOTES", "Harrogate",
                 "ADVERTISEMENTS", "THE END", "* *", "_"):
        assert word not in out, word
    assert_no_headings(out)
    # Paragraphs: exactly one blank line between them, no line breaks inside.
    assert "\n\n\n" not in out and not out.startswith("\n") and not out.endswith("\n")
    for para in out.split("\n\n"):
        assert para and "\n" not in para and "  " not in para and para == para.strip()


def test_short_dialogue_paragraphs_are_kept():
    paras = clean_book(fake_book()).text.split("\n\n")
    for line in ['"Yes," said he.', '"Where are you going?" asked the porter.', "No.",
                 '"It was a bad night," he said.']:
        assert line in paras


def test_sentences_reflowed_across_wrapped_lines():
    out = clean_book(fake_book()).text
    s = ("She stood for a while in the thin rain, looking up at the grey house above the orchard,"
         " and wondered whether anybody inside had heard the wheels.")
    assert s in out
    assert "Well-known faces" in out  # a hyphenated word stays one word
    assert "she was very busy holding it" in out  # italic markers stripped


def test_crlf_and_bom_give_the_same_result():
    raw = fake_book()
    ref = clean_book(raw)
    assert clean_book(raw.replace("\n", "\r\n")) == ref
    assert clean_book("\ufeff" + raw.replace("\n", "\r\n")) == ref
    assert is_gutenberg("\ufeff" + raw.replace("\n", "\r\n"))


# --- markers ------------------------------------------------------------------------------------------

BODY = wrap(["It was the best of times, it was the worst of times, it was the age of wisdom,"
             " it was the age of foolishness, it was the epoch of belief, it was the epoch of incredulity,"
             " it was the season of Light, it was the season of Darkness, it was the spring of hope,"
             " it was the winter of despair."])
BODY_FLAT = " ".join(BODY.split())


@pytest.mark.parametrize("start, end", [
    ("*** START OF THE PROJECT GUTENBERG EBOOK A TALE ***", "*** END OF THE PROJECT GUTENBERG EBOOK A TALE ***"),
    ("*** START OF THIS PROJECT GUTENBERG EBOOK A TALE ***", "*** END OF THIS PROJECT GUTENBERG EBOOK A TALE ***"),
    ("***START OF THE PROJECT GUTENBERG EBOOK A TALE***", "***END OF THE PROJECT GUTENBERG EBOOK A TALE***"),
    ("*** start of the project gutenberg ebook a tale ***", "*** end of the project gutenberg ebook a tale ***"),
    ("*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*", "End of the Project Gutenberg EBook of A Tale"),
    ("*** START OF THE PROJECT GUTENBERG EBOOK A TALE ***", "End of Project Gutenberg's A Tale, by Somebody"),
])
def test_marker_forms(start, end):
    raw = ("Project Gutenberg's A Tale, by Somebody\n\nThis eBook is for the use of anyone anywhere.\n\n"
           f"{start}\n\n{BODY}\n\n{end}\n\nThis license text must go. Project Gutenberg-tm.\n")
    assert is_gutenberg(raw)
    out = clean_book(raw)
    assert out.text == BODY_FLAT
    assert out.removed_lines == nonblank(raw) - nonblank(BODY)
    assert out.title == "A Tale"


def test_title_from_start_marker_when_no_title_line():
    raw = f"Some header.\n\n*** START OF THE PROJECT GUTENBERG EBOOK MOBY-DICK; OR, THE WHALE ***\n\n{BODY}\n\n" \
          "*** END OF THE PROJECT GUTENBERG EBOOK MOBY-DICK; OR, THE WHALE ***\n"
    assert clean_book(raw).title == "MOBY-DICK; OR, THE WHALE"


def test_multiline_title():
    raw = ("Title: The Life and Opinions of Tristram Shandy,\n       Gentleman\n\nAuthor: Laurence Sterne\n\n"
           f"*** START OF THE PROJECT GUTENBERG EBOOK TRISTRAM SHANDY ***\n\n{BODY}\n\n"
           "*** END OF THE PROJECT GUTENBERG EBOOK TRISTRAM SHANDY ***\n")
    assert clean_book(raw).title == "The Life and Opinions of Tristram Shandy, Gentleman"


def test_is_gutenberg_needs_both_markers():
    assert not is_gutenberg(BODY)
    assert not is_gutenberg("*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n" + BODY)
    assert not is_gutenberg(BODY + "\n\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\n")
    assert is_gutenberg("*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n" + BODY
                        + "\n\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\n")


# --- plain text and books without chapter headings -----------------------------------------------------

PLAIN_PARAS = [
    ["The committee met on Tuesday in the small room above the library, as it had done every month"
     " for eleven years, and as usual the first hour was spent on the minutes of the previous meeting.",
     "Nobody objected to them, but everybody had something to add."],
    ['"Shall we begin?" asked the chairman.'],
    ["They began.", "The question of the roof was raised, discussed, and postponed once again."],
]


def test_plain_text_passes_through_with_only_reflow():
    raw = "\n\n".join("    " + wrap(p).replace("\n", "\n   ") for p in PLAIN_PARAS) + "\n"
    assert not is_gutenberg(raw)
    out = clean_book(raw)
    assert out.title is None
    assert out.text == "\n\n".join(" ".join(p) for p in PLAIN_PARAS)
    assert out.removed_lines == 0
    assert clean_book(raw.replace("\n", "\r\n")) == out


def test_book_without_chapter_headings():
    prose = [
        ["It was late in the autumn when the travellers reached the river, and the ferryman, who had"
         " seen them coming from a long way off across the flat brown fields, was already waiting"
         " for them with his boat drawn up on the shingle and a lantern lit in the bow."],
        ['"You are late," he said.'],
        ["They did not argue with him.", "The crossing took the better part of an hour."],
        ["On the far bank the road climbed steeply between high hedges, and the travellers walked"
         " in silence until they saw the lights of the inn."],
    ]
    body = (wrap(prose[0]) + "\n\n" + wrap(prose[1]) + "\n\n* * * * *\n\n" + wrap(prose[2])
            + "\n\nINTERLUDE\n\n" + wrap(prose[3]) + "\n")
    front = ("Produced by Somebody Careful and the Online Distributed\nProofreading Team\n\n"
             "THE FERRY\n\nA Tale of the River Country\n\nby\n\nR. S. Teller\n\n"
             "Transcriber's Note: Obvious printer's errors have been corrected silently.\n\n"
             "CONTENTS\n\nThe River\nThe Inn\nThe Road\n\nNew York\nThe Publishing Company\n1903\n\n")
    raw = ("Title: The Ferry\n\n*** START OF THE PROJECT GUTENBERG EBOOK THE FERRY ***\n\n" + front + body
           + "\n*** END OF THE PROJECT GUTENBERG EBOOK THE FERRY ***\n\nLicense text.\n")
    out = clean_book(raw)
    assert out.title == "The Ferry"
    assert out.text == "\n\n".join(" ".join(p) for p in prose)
    assert out.removed_lines == nonblank(raw) - sum(nonblank(wrap(p)) for p in prose)


def test_leading_short_lines_dropped_without_markers():
    raw = "THE FERRY\n\nby R. S. Teller\n\n1903\n\n" + BODY + "\n"
    out = clean_book(raw)
    assert out.title is None
    assert out.text == BODY_FLAT
    assert out.removed_lines == 3


# --- heading forms -------------------------------------------------------------------------------------

FILLER = ("The wind went on blowing across the bay all that day, and the boats stayed in the harbour"
          " with their sails furled, while the men sat on the harbour wall and watched the sky.")


@pytest.mark.parametrize("heading", [
    "Chapter 3: The Storm", "BOOK II", "PART ONE", "CHAPTER ONE.", "Chapter 1", "Chapter I. The Arrival",
    "CHAPTER XIV.", "IV.", "XII", "Book the First", "PART III.—THE RETURN", "CHAPTER IX THE LETTER",
    "Chapter Twenty-One", "VII. The Lighthouse", "12.", "Letter 4", "PROLOGUE", "Epilogue",
    "Section 2. Of Tides", "Volume II",
])
def test_heading_forms_are_dropped(heading):
    raw = f"{heading}\n\n{wrap([FILLER])}\n\n{heading}\n\n{wrap([FILLER])}\n"
    out = clean_book(raw)
    assert out.text == f"{FILLER}\n\n{FILLER}"
    assert out.removed_lines == 2


def test_mixed_headings_in_one_book():
    paras = [f"{FILLER} This is paragraph {k}." for k in range(8)]
    raw = "\n\n".join([
        "PART ONE", "Chapter 1", wrap([paras[0]]), wrap([paras[1]]),
        "Chapter 2: The Calm", wrap([paras[2]]),
        "Chapter 3: The Storm", wrap([paras[3]]),
        "BOOK II", "CHAPTER IV.\nTHE HARBOUR", wrap([paras[4]]),
        "V.", wrap([paras[5]]),
        "PART TWO", "Chapter VI. The Arrival", wrap([paras[6]]),
        "------", "XII", wrap([paras[7]]), "THE END",
    ]) + "\n"
    out = clean_book(raw)
    assert out.text == "\n\n".join(paras)
    assert_no_headings(out.text)


def test_heading_line_directly_above_prose_is_split_off():
    raw = f"CHAPTER I\n{wrap([FILLER])}\n\nCHAPTER II.\nThe Harbour Wall\n{wrap([FILLER])}\n"
    assert clean_book(raw).text == f"{FILLER}\n\n{FILLER}"


@pytest.mark.parametrize("line", [
    '"Yes," said he.', "Nobody answered.", '"NO!"', "Book two was better than the first, she thought.",
    "Part of it was true.", "I went home.", '"Chapter and verse," said the parson.', "Well?",
    "She nodded.", "It was Tuesday.",
])
def test_short_prose_paragraphs_are_not_headings(line):
    raw = f"Chapter 1\n\n{wrap([FILLER])}\n\n{line}\n\n{wrap([FILLER])}\n"
    assert clean_book(raw).text == f"{FILLER}\n\n{line}\n\n{FILLER}"


def test_chapter_title_after_heading_dropped_but_dialogue_kept():
    raw = (f"CHAPTER I.\n\nThe Arrival\n\n{wrap([FILLER])}\n\nCHAPTER II.\n\n\"Who is there?\"\n\n"
           f"{wrap([FILLER])}\n")
    assert clean_book(raw).text == f'{FILLER}\n\n"Who is there?"\n\n{FILLER}'


def test_back_matter_only_dropped_at_the_end():
    # "THE END" in the middle of a book (a story in a collection) drops only the line.
    first, second = f"{FILLER} One.", f"{FILLER} Two."
    raw = f"CHAPTER I.\n\n{wrap([first])}\n\nTHE END\n\nCHAPTER II.\n\n{wrap([second])}\n\nFINIS\n\n" \
          f"FOOTNOTES\n\n[1] A note.\n\nINDEX\n\nHarbour, the, 3, 7.\n"
    assert clean_book(raw).text == f"{first}\n\n{second}"


def test_empty_and_blank_input():
    assert clean_book("") == CleanText(None, "", 0)
    assert clean_book("\n\n  \n") == CleanText(None, "", 0)
    assert not is_gutenberg("")


# --- the nine Book-SORT books: miniatures of each layout SORT's chapter table handles -----------------
# Hand-written texts in the Gutenberg layout that reproduce each case (the real books are not here).

def _prose(tag: str, n: int) -> list[str]:
    """n distinct wrapped paragraphs of plain narrative sentences."""
    return [wrap([f"The {tag} walker passed stone number {i} at a steady pace.",
                  f"Beyond stone {i} the road bent north along the river, and the walker followed it"
                  " without once looking back at the town."]) for i in range(n)]


def test_chapter_opening_with_a_colon_and_short_dialogue_is_kept():
    # Tom Swift and His Talking Pictures (PG 72578): chapter I opens with a paragraph ending "asked:"
    # and a one-line question; it was taken for a contents entry and the whole chapter was lost.
    contents = "\n".join(f"{n}. {t}{'.' * 20}{p:>5}" for n, t, p in
                         (("I", "BLASTING FIRE", 1), ("II", "NED DISAPPEARS", 12)))
    body = (
        "                               CHAPTER I\n                             BLASTING FIRE\n\n\n"
        "ENTERING Tom's private laboratory from a room farther down the\nhall, Ned, who seemed somewhat"
        " out of breath, glanced at the\nyoung inventor and asked:\n\n"
        "“Do you seem to be getting anywhere with it, Tom?”\n\n"
        "For a moment there was no reply. Tom was slowly turning a dial.\nNed repeated his question, adding:\n\n"
        "“What seems to be the trouble?”\n\n"
        + "\n\n".join(_prose("first", 3))
        + "\n\n\n\n                               CHAPTER II\n                             NED DISAPPEARS\n\n\n"
        + "\n\n".join(_prose("second", 3)) + "\n\n\n                                THE END\n"
    )
    raw = HEADER + "TOM SWIFT\n\n\n                                CONTENTS\n\n" + contents + "\n\n\n\n" + body + FOOTER
    out = clean_book(raw)
    assert out.text.startswith("ENTERING Tom's private laboratory")
    assert "“What seems to be the trouble?”" in out.text and "Ned repeated his question, adding:" in out.text
    assert "The second walker passed stone number 2" in out.text
    for junk in ("BLASTING", "CHAPTER", "CONTENTS", "DISAPPEARS", "THE END"):
        assert junk not in out.text, junk


def test_unnamed_prologue_before_chapter_one_is_kept():
    # The Trumpeter of Krakow (PG 72600): the prologue "The Broken Note" has no heading of its own,
    # only the book's title and its own above it; SORT's table counts it as a chapter.
    prologue = _prose("prologue", 48)  # 48 paragraphs x 32 words: well over 1,000 words
    raw = (
        HEADER
        + "                        THE TRUMPETER\n\n\n"
        + "                                 CONTENTS\n                                                 PAGE\n"
        + "                 The Broken Note.........................          3\n"
        + "         CHAPTER\n               I The Man Who Kept His Pumpkin...          9\n\n\n\n"
        + "                              ILLUSTRATIONS\n          _The Old City Wall_                19\n\n\n\n"
        + "                 Ancient Oath of the Trumpeters\n\n"
        + "“I swear on my honor that I will faithfully sound the trumpet each hour\nin the tower.”\n\n\n\n"
        + "                        THE TRUMPETER\n\n\n                            THE BROKEN NOTE\n\n"
        + "\n\n".join(prologue)
        + "\n\n\n                               CHAPTER I\n                 THE MAN WHO KEPT HIS PUMPKIN\n\n"
        + "\n\n".join(_prose("chapter", 60)) + "\n" + FOOTER  # the chapters outweigh the prologue
    )
    out = clean_book(raw)
    assert out.text.startswith("The prologue walker passed stone number 0 at a steady pace.")
    assert "The prologue walker passed stone number 47" in out.text and "The chapter walker passed stone number 0" in out.text
    for junk in ("I swear", "Ancient Oath", "BROKEN NOTE", "TRUMPETER", "CONTENTS", "PUMPKIN", "Old City Wall"):
        assert junk not in out.text, junk
    assert out.ebook_id == 99999  # "[eBook #99999]" in the header


def test_short_commentary_before_chapter_one_is_front_matter():
    # The Well of Loneliness (PG 73042): a short signed commentary before chapter 1 (and a printer's
    # "CL" that reads as a roman numeral) is front matter, as SORT's table drops it.
    raw = (
        HEADER + "                          With a Commentary\n\n\n"
        + "                                   CL\n              MANUFACTURED IN THE UNITED STATES\n\n\n\n"
        + "                               COMMENTARY\n\n\n"
        + wrap(["I have read this novel with great interest because, apart from its fine qualities as a novel",
                "by a writer of accomplished art, it possesses a notable significance."]) + "\n\n"
        + "                                                         A. Critic\n\n\n\n"
        + "                               CHAPTER 1\n\n\n" + "\n\n".join(_prose("first", 3))
        + "\n\n\n                               CHAPTER 2\n\n\n" + "\n\n".join(_prose("second", 3)) + "\n" + FOOTER
    )
    out = clean_book(raw)
    assert out.text.startswith("The first walker passed stone number 0")
    assert "great interest" not in out.text and "Critic" not in out.text


def test_floor_plan_in_an_open_illustration_bracket_is_dropped():
    # The Murder of Roger Ackroyd (PG 69087): "[Illustration:" opens a plan drawn in text characters
    # over blank lines and rule lines, closed by "]" on a line of its own.
    plan = (
        "[Illustration:\n\n"
        "  +------------------------------------.\n"
        "  |             TERRACE                 .\n"
        "  |--==--+--==---==--+---==---==----+    .\n"
        "  |PANTRY|   DINING  |    DRAWING   |    .\n"
        "  |      |    ROOM   |     ROOM     |    .\n\n"
        "  |BILLIARD|====|  HALL  |  STUDY   ‖    .\n"
        "  +-==-==--+-------+  +--+----------+-  -+\n"
        "                   |  |              .  .\n"
        "                FRONT DOOR          .  .\n"
        "                   .  +---+       HOUSE\n"
        "  -----------------+  +---+--------------\n"
        "]\n\n"
    )
    table = "  |||  +---+ CHAIR IN WHICH          ___   |\n  |||   ]  | ACKROYD WAS            /   \\  |\n\n"
    raw = (HEADER + "CHAPTER I\n\n" + "\n\n".join(_prose("first", 2)) + "\n\nI have appended a rough sketch.\n\n"
           + plan + table + "\n\n".join(_prose("second", 2)) + "\n" + FOOTER)
    out = clean_book(raw)
    for junk in ("PANTRY", "TERRACE", "+--", "|", "‖", "FRONT DOOR", "HOUSE", "CHAIR IN WHICH", "[", "]"):
        assert junk not in out.text, junk
    assert "I have appended a rough sketch.\n\nThe second walker passed stone number 0" in out.text


def test_transcribers_notes_at_the_end_are_back_matter():
    # Pomona (PG 73017): a one-chapter essay ending in a scene break and "Transcriber's Notes:" with a
    # list of dashed items; the items went into the last excerpts.
    raw = (
        HEADER + "\n\n".join(_prose("essay", 6)) + "\n\non our lips as it lived once on theirs. “Ripeness is all.”\n\n\n"
        "                   *       *       *       *       *\n\n\n"
        " Transcriber’s Notes:\n\n"
        " ――Text in italics is enclosed by underscores (_italics_).\n\n"
        " ――Punctuation and spelling inaccuracies were silently corrected.\n\n"
        " ――Archaic and variable spelling has been preserved.\n\n\n\n" + FOOTER
    )
    out = clean_book(raw)
    assert out.text.endswith("“Ripeness is all.”")
    assert "Transcriber" not in out.text and "italics" not in out.text and "spelling" not in out.text
