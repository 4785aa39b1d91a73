"""A tiny, conservative JavaScript minifier for the tracking snippet (static/humblytics.js).

It only does what is safe without a real parser:

* removes block comments, except the config marker ``/*HMBL_CONFIG*/`` (kept verbatim so the server
  can replace ``/*HMBL_CONFIG*/null`` with a JSON object after minifying);
* removes ``//`` comments that fill a whole line (a trailing ``//`` comment after code is kept);
* strips leading and trailing whitespace of every line and drops blank lines.

Line breaks between code lines are kept, so automatic semicolon insertion is unaffected, and no two
tokens are ever joined. String literals, template literals and regular expression literals are copied
unchanged (including a template literal's own line breaks and indentation). Whether ``/`` starts a
regular expression or is a division is decided from the previous token, as JavaScript tokenizers do;
a trailing ``//`` is copied to the end of its line without changing state, so a misjudged ``/`` cannot
swallow code.
"""

CONFIG_MARKER = "/*HMBL_CONFIG*/"

# After one of these characters (or at the start), "/" starts a regular expression literal.
_REGEX_AFTER = set("(,=:[!&|?{};+-*%<>~^")
# ... and after one of these keywords.
_REGEX_KEYWORDS = {
    "return",
    "typeof",
    "instanceof",
    "in",
    "of",
    "new",
    "delete",
    "void",
    "throw",
    "case",
    "do",
    "else",
    "yield",
    "await",
}
_SPACE = " \t\r\f\v\u00a0\ufeff"


def _last_word(out: list[str]) -> str:
    word = []
    i = len(out) - 1
    while i >= 0 and (out[i].isalnum() or out[i] in "_$"):
        word.append(out[i])
        i -= 1
    return "".join(reversed(word))


def _regex_allowed(out: list[str]) -> bool:
    i = len(out) - 1
    while i >= 0 and out[i] in _SPACE + "\n":
        i -= 1
    if i < 0 or out[i] in _REGEX_AFTER:
        return True
    return _last_word(out[: i + 1]) in _REGEX_KEYWORDS


def minify_js(source: str) -> str:
    out: list[str] = []
    i, n = 0, len(source)
    line_start = True  # skipping the indentation of a new code line

    def end_line() -> None:
        while out and out[-1] in _SPACE:
            out.pop()
        if out and out[-1] != "\n":
            out.append("\n")

    while i < n:
        c = source[i]
        if line_start and c in _SPACE:
            i += 1
            continue
        line_start = False
        if c == "\n":
            end_line()
            line_start = True
            i += 1
        elif c in "'\"`":
            # String or template literal: copy up to the matching unescaped quote.
            j = i + 1
            while j < n and source[j] != c:
                if source[j] == "\\":
                    j += 1
                elif source[j] == "\n" and c != "`":
                    break  # unterminated string: stop here, the newline is handled as code
                j += 1
            j = min(j + 1, n) if j < n and source[j] == c else j
            out.extend(source[i:j])
            i = j
        elif source.startswith("/*", i):
            end = source.find("*/", i + 2)
            end = n if end < 0 else end + 2
            comment = source[i:end]
            if comment == CONFIG_MARKER:
                out.extend(comment)
            elif "\n" in comment:
                end_line()  # a comment holding a line break counts as one for ASI
                line_start = True
            elif out and out[-1] not in _SPACE + "\n":
                out.append(" ")
            i = end
        elif source.startswith("//", i):
            end = source.find("\n", i)
            end = n if end < 0 else end
            if not out or out[-1] == "\n":
                i = end  # whole-line comment: drop it
            else:
                out.extend(source[i:end])  # trailing comment: keep, it is harmless
                i = end
        elif c == "/" and _regex_allowed(out):
            # Regular expression literal: copy up to the closing "/" outside a character class.
            j, in_class = i + 1, False
            while j < n and source[j] != "\n":
                ch = source[j]
                if ch == "\\":
                    j += 1
                elif ch == "[":
                    in_class = True
                elif ch == "]":
                    in_class = False
                elif ch == "/" and not in_class:
                    j += 1
                    break
                j += 1
            out.extend(source[i:j])
            i = j
        else:
            out.append(c)
            i += 1
    end_line()
    return "".join(out)
