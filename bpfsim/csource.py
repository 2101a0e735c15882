"""C initializers ⇄ instructions: ``struct sock_filter`` arrays of BPF_STMT/BPF_JUMP or rows.

Reads what real code writes without a compiler: filter.h's macros, constant expressions over
BPF_*, SECCOMP_RET_*, AUDIT_ARCH_*, errno and ``__NR_``/``SYS_`` names, the uapi constants filters
compare arguments with (O_*, AF_*, CLONE_*, ... as ``abi.constant_numbers`` numbers them for the
arch), ``offsetof(struct seccomp_data, ...)``, casts, and the file's own #defines and #if
branches, decided for one arch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from . import abi
from . import opcodes as op
from .errors import NAMING_ONE_FILTER, AsmError, BpfsimError, FormatError
from .insn import Instruction, hex_or_dec
from .formatter import annotate, path_facts
from .target import Target, byteorder_of

_TOKEN = re.compile(r"""
    (?P<space>[ \t\r\f\v]+|\\\r?\n)
  | (?P<newline>\n)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
  | (?P<num>\.?\d[\w.]*)
  | (?P<name>[A-Za-z_]\w*)
  | (?P<op>\#\#|<<|>>|&&|\|\||==|!=|<=|>=|->|[^\s])
""", re.S | re.X | re.ASCII)

_NAMES = ({n: v for n, v in vars(op).items() if n.startswith(("BPF_", "SKF_")) and isinstance(v, int)}
          | {n: v for n, v in vars(abi).items() if n.startswith("SECCOMP_") and isinstance(v, int)}
          | {a.constant: a.value for a in abi.ARCHES}
          | {"__X32_SYSCALL_BIT": abi.X32_SYSCALL_BIT, "STDIN_FILENO": 0, "STDOUT_FILENO": 1,
             "STDERR_FILENO": 2})  # unistd.h
# C types a cast may name: (bits, signed).
_TYPES = {"char": (8, True), "short": (16, True), "int": (32, True), "long": (64, True),
          "__u8": (8, False), "__u16": (16, False), "__u32": (32, False), "__u64": (64, False),
          "__s8": (8, True), "__s16": (16, True), "__s32": (32, True), "__s64": (64, True),
          "uint8_t": (8, False), "uint16_t": (16, False), "uint32_t": (32, False), "uint64_t": (64, False),
          "int8_t": (8, True), "int16_t": (16, True), "int32_t": (32, True), "int64_t": (64, True),
          "size_t": (64, False), "u_int": (32, False), "u_short": (16, False)}
_QUALIFIERS = {"unsigned", "signed", "const", "volatile"}
_SIZEOF = {"seccomp_data": abi.SECCOMP_DATA_SIZE, "sock_filter": 8}
_BINARY = [("||",), ("&&",), ("|",), ("^",), ("&",), ("==", "!="), ("<", "<=", ">", ">="), ("<<", ">>"),
           ("+", "-"), ("*", "/", "%")]
_MAX_DEPTH = 100
_MAX_ELEMENTS = 1 << 16
_MAX_TOKENS = 1 << 20
_MAX_TERMS = 10_000  # per constant expression: real ones have a few dozen, macros expanded


def _wrap(value: int) -> int:
    """A 64-bit result, as the compiler's widest integer type wraps (values stay machine-sized)."""
    return (value + (1 << 63)) % (1 << 64) - (1 << 63)


class _Token(NamedTuple):  # a tuple: a crafted file makes hundreds of thousands of them
    kind: str
    text: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class _Macro:
    params: tuple[str, ...] | None  # None for an object-like macro
    body: tuple[_Token, ...]


class _Source:
    """The tokens of a C file compiled for ``arch``: its #defines, #if branches and sock_filter arrays."""

    def __init__(self, text: str, source: str, arch: str, *, with_constants: bool = True,
                 defines: Mapping[str, str] | None = None):
        self.source, self.arch, self.text = source, arch, text
        self.errnos = abi.errno_numbers(arch)  # <errno.h> as compiled for this arch
        # <fcntl.h>, <sys/socket.h>, <sched.h>, ... as compiled for this arch
        self.constants = abi.constant_numbers(arch) if with_constants else {}
        self.macros: dict[str, _Macro] = {
            name: _Macro(None, (_Token("num", str(value), 0, 0),)) for name, value in _predefined(arch).items()}
        for name, value in (defines or {}).items():  # the compiler's -D NAME=VALUE, before the first line
            self.macros[name] = _Macro(None, tuple(
                _Token(m.lastgroup, m.group(), 0, 0) for m in _TOKEN.finditer(value)
                if m.lastgroup not in ("space", "newline", "comment")))
        self.tokens: list[_Token] = []
        self.layouts: _Layouts | None = None  # struct and typedef sizes, read when a sizeof asks
        self.branches: list[list[bool]] = []  # per open #if: [enclosing active, this branch active, one taken]
        lines: list[list[_Token]] = [[]]
        line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
        line = 1
        for match in _TOKEN.finditer(text):
            kind = match.lastgroup
            while line < len(line_starts) and line_starts[line] <= match.start():
                line += 1
            if kind == "newline":
                lines.append([])
            elif kind not in ("space", "comment"):
                lines[-1].append(_Token(kind, match.group(), line, match.start() - line_starts[line - 1] + 1))
        for tokens in lines:
            if tokens and tokens[0].text == "#":
                self.directive(tokens)
            elif self.active():
                self.tokens.extend(tokens)
        if self.branches:
            raise self.fail(None, "an #if is never closed by #endif")

    def type_size(self, words: Sequence[_Token]) -> int | None:
        """``sizeof`` a type written as ``words`` for this arch, or None where it is not known."""
        if self.layouts is None:
            self.layouts = _Layouts(self)
        found = self.layouts.of(list(words))
        return None if found is None else found[0]

    def active(self) -> bool:
        """Is the current line compiled? A branch is only ever taken inside an active one, so the
        innermost #if decides (constant time: nested #ifs stay linear)."""
        return self.branches[-1][1] if self.branches else True

    def directive(self, tokens: list[_Token]) -> None:
        word = tokens[1].text if len(tokens) > 1 else ""
        if word in ("if", "ifdef", "ifndef"):
            outer = self.active()
            taken = outer and self.condition(word, tokens)
            self.branches.append([outer, taken, taken])
        elif word in ("elif", "else", "endif"):
            if not self.branches:
                raise self.fail(tokens[1], f"#{word} without #if")
            branch = self.branches[-1]
            if word == "endif":
                self.branches.pop()
            else:
                branch[1] = branch[0] and not branch[2] and (word == "else" or self.condition("if", tokens))
                branch[2] = branch[2] or branch[1]
        elif not self.active():
            return
        elif len(tokens) >= 3 and word == "define" and tokens[2].kind == "name":
            name, rest = tokens[2], tokens[3:]
            if rest and rest[0].text == "(" and rest[0].column == name.column + len(name.text) \
                    and rest[0].line == name.line:
                close = next((i for i, t in enumerate(rest) if t.text == ")"), None)
                if close is None:
                    raise self.fail(rest[0], f"#define {name.text}( has no closing parenthesis")
                params = tuple(t.text for t in rest[1:close] if t.text != ",")
                self.macros[name.text] = _Macro(params, tuple(rest[close + 1:]))
            else:
                self.macros[name.text] = _Macro(None, tuple(rest))
        elif len(tokens) >= 3 and word == "undef":
            self.macros.pop(tokens[2].text, None)
        elif word == "error":  # the compiler would stop here for this arch
            raise self.fail(tokens[1], "#error " + " ".join(t.text for t in tokens[2:]))

    def condition(self, word: str, tokens: list[_Token]) -> bool:
        """#if, #elif, #ifdef, #ifndef as the preprocessor decides them for this arch."""
        if word in ("ifdef", "ifndef"):
            if len(tokens) < 3:
                raise self.fail(tokens[1], f"#{word} needs a name")
            return self.defined(tokens[2].text) == (word == "ifdef")
        rest, resolved = tokens[2:], []
        i = 0
        while i < len(rest):
            if rest[i].text == "defined":
                parenthesized = i + 1 < len(rest) and rest[i + 1].text == "("
                name = rest[i + 2 if parenthesized else i + 1] if i + (2 if parenthesized else 1) < len(rest) else None
                if name is None:
                    raise self.fail(rest[i], "defined needs a name")
                resolved.append(_Token("num", str(int(self.defined(name.text))), name.line, name.column))
                i += 4 if parenthesized else 2
            else:
                resolved.append(rest[i])
                i += 1
        if not resolved:
            raise self.fail(tokens[1], f"#{tokens[1].text} needs a condition")
        parser = _Parser(self, self.expand(resolved), self.arch, unknown_is_zero=True)
        value = parser.expression()
        if parser.peek() is not None:
            raise self.fail(parser.peek(), f"unexpected '{parser.peek().text}' in #{tokens[1].text}")
        return bool(value)

    def defined(self, name: str) -> bool:
        """A #define of this file, a compiler or header macro, or a syscall this arch has."""
        if name in self.macros or name in _NAMES or name in self.errnos or name in self.constants:
            return True
        syscall = re.fullmatch(r"(?:__NR_|SYS_)(\w+)", name)
        if syscall is None:
            return False
        from .syscalls import syscall_number
        try:
            syscall_number(syscall.group(1), self.arch)
        except BpfsimError:
            return False
        return True

    def fail(self, token: _Token | None, message: str) -> AsmError:
        if token is None:
            return AsmError(self.source, None, message)
        return AsmError(self.source, token.line, message, column=token.column)

    def arrays(self) -> dict[str, tuple[_Token | None, list[_Token]]]:
        """``struct sock_filter NAME[...] = { ... }``: name → (declared size tokens' start, element tokens)."""
        found: dict[str, tuple[list[_Token], list[_Token]]] = {}
        tokens = self.tokens
        for i, token in enumerate(tokens[:-2]):
            if token.text != "sock_filter" or tokens[i + 1].kind != "name" or tokens[i + 2].text != "[":
                continue
            j = i + 3
            size = []
            while j < len(tokens) and tokens[j].text != "]":
                size.append(tokens[j])
                j += 1
            if j + 2 >= len(tokens) or tokens[j + 1].text != "=" or tokens[j + 2].text != "{":
                continue
            end = self.matching(j + 2)
            found[tokens[i + 1].text] = (size, tokens[j + 3:end])
        return found

    def matching(self, start: int) -> int:
        depth = 0
        for k in range(start, len(self.tokens)):
            depth += {"{": 1, "}": -1}.get(self.tokens[k].text, 0)
            if depth == 0:
                return k
        raise self.fail(self.tokens[start], "this '{' is never closed")

    # -- macros --------------------------------------------------------------------------------
    def expand(self, tokens: Sequence[_Token], active: frozenset[str] = frozenset(), depth: int = 0) -> list[_Token]:
        if depth > _MAX_DEPTH:
            raise self.fail(tokens[0] if tokens else None, "macros nest too deeply")
        out: list[_Token] = []
        i = 0
        while i < len(tokens):
            token = tokens[i]
            macro = self.macros.get(token.text) if token.kind == "name" and token.text not in active else None
            if macro is None:
                out.append(token)
                i += 1
                continue
            if macro.params is None:
                body = list(macro.body)
                i += 1
            elif i + 1 >= len(tokens) or tokens[i + 1].text != "(":
                out.append(token)
                i += 1
                continue
            else:
                args, i = self.arguments(tokens, i + 1)
                if args == [[]] and not macro.params:
                    args = []
                if len(args) != len(macro.params):
                    raise self.fail(token, f"macro {token.text} takes {len(macro.params)} arguments, "
                                    f"{len(args)} given")
                body = self.substitute(macro, args, active, depth)
            out.extend(self.expand(self.paste(body, token), active | {token.text}, depth + 1))
            if len(out) > _MAX_TOKENS:
                raise self.fail(token, f"macro {token.text} expands to more than {_MAX_TOKENS} tokens")
        return out

    def substitute(self, macro: _Macro, args: list[list[_Token]], active: frozenset[str], depth: int) -> list[_Token]:
        """The body with each parameter replaced by its argument, fully macro-expanded first unless
        an operand of ``##`` (C11 6.10.3.1): ``MAX(MAX(1, 2), 3)`` expands the inner MAX."""
        bound = dict(zip(macro.params, args))
        expanded: dict[str, list[_Token]] = {}
        body: list[_Token] = []
        parts = macro.body
        for k, part in enumerate(parts):
            if part.kind != "name" or part.text not in bound:
                body.append(part)
            elif (k and parts[k - 1].text == "##") or (k + 1 < len(parts) and parts[k + 1].text == "##"):
                body.extend(bound[part.text])
            else:
                if part.text not in expanded:
                    expanded[part.text] = self.expand(bound[part.text], active, depth + 1)
                body.extend(expanded[part.text])
        return body

    def arguments(self, tokens: Sequence[_Token], start: int) -> tuple[list[list[_Token]], int]:
        """The comma-separated arguments of a macro call whose '(' is at ``start``, and the index after ')'."""
        args: list[list[_Token]] = [[]]
        depth = 0
        for k in range(start, len(tokens)):
            text = tokens[k].text
            if text == "(":
                depth += 1
                if depth == 1:
                    continue
            elif text == ")":
                depth -= 1
                if depth == 0:
                    return args, k + 1
            elif text == "," and depth == 1:
                args.append([])
                continue
            args[-1].append(tokens[k])
        raise self.fail(tokens[start], "this '(' is never closed")

    def paste(self, body: list[_Token], at: _Token) -> list[_Token]:
        """Apply ``##``: ``__NR_##name`` becomes one token, placed where the macro was used."""
        out: list[_Token] = []
        i = 0
        while i < len(body):
            if body[i].text == "##" and out and i + 1 < len(body):
                left = out.pop()
                text = left.text + body[i + 1].text
                kind = "name" if re.fullmatch(r"[A-Za-z_]\w*", text) else "num"
                out.append(_Token(kind, text, at.line, at.column))
                i += 2
            else:
                out.append(body[i])
                i += 1
        return out


class _Parser:
    """Initializer elements and C constant expressions over an expanded token list."""

    def __init__(self, src: _Source, tokens: list[_Token], arch: str, *, unknown_is_zero: bool = False):
        self.src, self.tokens, self.i, self.arch = src, tokens, 0, arch
        self.depth = 0
        self.terms = 0  # values read in the current top-level expression
        self.unknown_is_zero = unknown_is_zero  # as in #if, where an unknown name counts as 0

    def peek(self, ahead: int = 0) -> _Token | None:
        k = self.i + ahead
        return self.tokens[k] if k < len(self.tokens) else None

    def take(self, what: str) -> _Token:
        token = self.peek()
        if token is None:
            last = self.tokens[-1] if self.tokens else None
            raise self.src.fail(last, f"expected {what} after this")
        self.i += 1
        return token

    def accept(self, text: str) -> bool:
        token = self.peek()
        if token is not None and token.text == text:
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> _Token:
        token = self.take(f"'{text}'")
        if token.text != text:
            raise self.src.fail(token, f"expected '{text}', found '{token.text}'")
        return token

    # -- elements ------------------------------------------------------------------------------
    def elements(self) -> list[Instruction]:
        placed: dict[int, Instruction] = {}
        index = 0
        while self.peek() is not None:
            if self.accept("["):
                index = self.index(self.expression())
                self.expect("]")
                self.expect("=")
            placed[index] = self.element()
            index += 1
            if self.peek() is not None:
                self.expect(",")
        return [placed.get(k, Instruction(0)) for k in range(max(placed, default=-1) + 1)]

    def index(self, value: int) -> int:
        if not 0 <= value < _MAX_ELEMENTS:
            raise self.src.fail(self.tokens[self.i - 1], f"array index {value} is out of range "
                                f"(a filter has at most {op.BPF_MAXINSNS} instructions)")
        return value

    def element(self) -> Instruction:
        token = self.take("an instruction")
        if token.text in ("BPF_STMT", "BPF_JUMP"):
            self.expect("(")
            values = [self.expression()]
            for _ in range(1 if token.text == "BPF_STMT" else 3):
                self.expect(",")
                values.append(self.expression())
            self.expect(")")
            code, k, jt, jf = values + [0, 0] if token.text == "BPF_STMT" else values
            return _record(code, jt, jf, k)
        if token.text != "{":
            raise self.src.fail(token, f"expected BPF_STMT, BPF_JUMP or '{{', found '{token.text}'")
        fields = {"code": 0, "jt": 0, "jf": 0, "k": 0}
        order = iter(fields)
        while not self.accept("}"):
            if self.accept("."):
                name = self.take("a field name")
                if name.text not in fields:
                    raise self.src.fail(name, f"struct sock_filter has no field '{name.text}'")
                self.expect("=")
                fields[name.text] = self.expression()
            else:
                field = next(order, None)
                if field is None:
                    raise self.src.fail(self.peek(), "struct sock_filter has four fields: code, jt, jf, k")
                fields[field] = self.expression()
            if not self.accept(","):
                self.expect("}")
                break
        return _record(fields["code"], fields["jt"], fields["jf"], fields["k"])

    # -- expressions ---------------------------------------------------------------------------
    def expression(self) -> int:
        if self.depth == 0:
            self.terms = 0
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.src.fail(self.peek(), "expression nests too deeply")
        try:
            value = self.binary(0)
            if self.accept("?"):
                yes = self.expression()
                self.expect(":")
                no = self.expression()
                value = yes if value else no
            return value
        finally:
            self.depth -= 1

    def binary(self, level: int) -> int:
        if level == len(_BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while (token := self.peek()) is not None and token.text in _BINARY[level]:
            self.i += 1
            right = self.binary(level + 1)
            left = self.apply(token, left, right)
        return left

    def apply(self, token: _Token, a: int, b: int) -> int:
        match token.text:
            case "||": return int(bool(a or b))
            case "&&": return int(bool(a and b))
            case "|": return a | b
            case "^": return a ^ b
            case "&": return a & b
            case "==": return int(a == b)
            case "!=": return int(a != b)
            case "<": return int(a < b)
            case "<=": return int(a <= b)
            case ">": return int(a > b)
            case ">=": return int(a >= b)
            case "<<" | ">>":
                if not 0 <= b < 64:
                    raise self.src.fail(token, f"shift by {b}")
                return (a << b) & (1 << 64) - 1 if token.text == "<<" else a >> b
            case "+": return _wrap(a + b)
            case "-": return _wrap(a - b)
            case "*": return _wrap(a * b)
        if b == 0:
            raise self.src.fail(token, "division by zero in a constant")
        quotient = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)  # C truncates toward zero
        return quotient if token.text == "/" else a - quotient * b

    def unary(self) -> int:
        self.terms += 1
        if self.terms > _MAX_TERMS:
            raise self.src.fail(self.peek(), f"a constant expression of more than {_MAX_TERMS:,} terms; "
                                "no field of a filter needs one")
        token = self.take("a value")
        match token.text:
            case "-": return -self.unary()
            case "+": return self.unary()
            case "~": return ~self.unary()
            case "!": return int(not self.unary())
            case "(":
                cast = self.cast()
                if cast is not None:
                    bits, signed = cast
                    value = self.unary() & ((1 << bits) - 1)
                    return value - (1 << bits) if signed and value >> (bits - 1) else value
                value = self.expression()
                self.expect(")")
                return value
        if token.kind == "num":
            return self.number(token)
        if token.kind == "string" and token.text.startswith("'") and len(token.text) == 3:
            return ord(token.text[1])
        if token.kind != "name":
            raise self.src.fail(token, f"expected a value, found '{token.text}'")
        if token.text == "offsetof":
            return self.offsetof()
        if token.text == "sizeof":
            return self.sizeof()
        return self.name(token)

    def cast(self) -> tuple[int, bool] | None:
        """After '(': a type name and ')' make a cast; anything else is a parenthesized expression."""
        k, words = 0, []
        while (token := self.peek(k)) is not None and token.kind == "name" and (token.text in _TYPES or token.text in _QUALIFIERS):
            words.append(token.text)
            k += 1
        if not words or self.peek(k) is None or self.peek(k).text != ")":
            return None
        self.i += k + 1
        named = [w for w in words if w in _TYPES]
        bits, signed = _TYPES[named[-1]] if named else (32, True)
        if "long" in named and bits == 16:  # "long short" is not C; keep the widest
            bits = 64
        return bits, signed and "unsigned" not in words

    def number(self, token: _Token) -> int:
        text = token.text.lower().rstrip("ul")
        try:
            if text.startswith(("0x", "0b")):
                return int(text, 0)
            if len(text) > 1 and text.startswith("0"):
                return int(text, 8)
            return int(text, 10)
        except ValueError:
            raise self.src.fail(token, f"'{token.text}' is not an integer constant") from None

    def offsetof(self) -> int:
        self.expect("(")
        self.accept("struct")
        kind = self.take("a struct name")
        if kind.text != "seccomp_data":
            raise self.src.fail(kind, f"offsetof knows struct seccomp_data, not '{kind.text}'")
        self.expect(",")
        member = self.take("a member of struct seccomp_data")
        offsets = {"nr": abi.OFFSET_NR, "arch": abi.OFFSET_ARCH, "instruction_pointer": abi.OFFSET_IP,
                   "args": abi.OFFSET_ARGS}
        if member.text not in offsets:
            raise self.src.fail(member, f"struct seccomp_data has no member '{member.text}'")
        value = offsets[member.text]
        if member.text == "args" and self.accept("["):
            value = abi.offset_of_arg(self.expression())
            self.expect("]")
        self.expect(")")
        return value

    def sizeof(self) -> int:
        self.expect("(")
        tokens = []
        while not self.accept(")"):
            tokens.append(self.take("a type"))
        words = [t.text for t in tokens]
        known = [_SIZEOF[w] for w in words if w in _SIZEOF]
        size = known[-1] if known else self.src.type_size(tokens)
        if size is None:
            raise self.src.fail(self.tokens[self.i - 1], f"sizeof({' '.join(words)}) is not known here")
        return size

    def name(self, token: _Token) -> int:
        if token.text in _NAMES:
            return _NAMES[token.text]
        if token.text in self.src.errnos:
            return self.src.errnos[token.text]
        if token.text in self.src.constants:
            return self.src.constants[token.text]
        syscall = re.fullmatch(r"(?:__NR_|SYS_)(\w+)", token.text)
        if syscall:
            from .syscalls import syscall_number
            try:
                return syscall_number(syscall.group(1), self.arch)
            except BpfsimError as unknown:
                if self.unknown_is_zero:
                    return 0
                raise self.src.fail(token, f"{token.text}: {unknown}") from None
        if self.unknown_is_zero:
            return 0
        raise self.src.fail(token, f"unknown identifier '{token.text}'")


class _Layouts:
    """The size and alignment of the types a C text defines (``struct``/``union`` bodies,
    ``typedef``s) and of C's basic types, as ``arch``'s psABI lays them out: int 4 bytes, long
    and pointers the word, long long 8, each aligned to its size but for 8-byte types on i386 (4)
    and every type on m68k (2). A member this reader cannot size (a bit-field, a function
    pointer) leaves its type unknown rather than guessed."""

    def __init__(self, src: _Source):
        self.src = src
        target = Target.of(src.arch)
        self.word = target.bits // 8
        self.max_align = {"i386": 4, "m68k": 2}.get(target.name, 8)
        self.bodies: dict[tuple[str, str], tuple[str, int, int]] = {}  # (struct|union, tag) -> body range
        self.typedefs: dict[str, list[_Token]] = {}
        self.known: dict = {}
        tokens, i = src.tokens, 0
        while i < len(tokens):
            text = tokens[i].text
            if text in ("struct", "union") and i + 2 < len(tokens) and tokens[i + 1].kind == "name" \
                    and tokens[i + 2].text == "{":
                self.bodies[(text, tokens[i + 1].text)] = (text, i + 3, src.matching(i + 2))
            elif text == "typedef":
                end = self._statement_end(i + 1)
                declared = tokens[i + 1:end]
                if declared and declared[-1].kind == "name" and not any(t.text in "()[]" for t in declared):
                    self.typedefs[declared[-1].text] = declared[:-1]
            i += 1

    def _statement_end(self, i: int) -> int:
        tokens, depth = self.src.tokens, 0
        while i < len(tokens) and (depth or tokens[i].text != ";"):
            depth += {"{": 1, "}": -1}.get(tokens[i].text, 0)
            i += 1
        return i

    def of(self, words: list[_Token]) -> tuple[int, int] | None:
        """``(size, alignment)`` of the type ``words``, or None."""
        texts = [t.text for t in words if t.text not in ("const", "volatile")]
        if not texts:
            return None
        if texts[0] in ("struct", "union"):
            if len(texts) > 1 and texts[1] == "{":
                start = next(k for k, t in enumerate(words) if t.text == "{")
                return self._body(texts[0], words[start + 1:-1])
            key = (texts[0], texts[1]) if len(texts) > 1 else None
            if key not in self.bodies:
                return None
            if key not in self.known:
                self.known[key] = None  # a struct that contains itself has no size
                kind, start, end = self.bodies[key]
                self.known[key] = self._body(kind, self.src.tokens[start:end])
            return self.known[key]
        if len(texts) == 1 and texts[0] in self.typedefs:
            return self.of(self.typedefs[texts[0]])
        return self._basic(texts)

    def _basic(self, texts: list[str]) -> tuple[int, int] | None:
        if any(t not in _TYPES and t not in _BASIC and t not in _QUALIFIERS for t in texts):
            return None
        named = [t for t in texts if t in _TYPES or t in _BASIC]
        if "long" in texts:
            size = 8 if texts.count("long") > 1 else self.word
        elif not named:  # "unsigned" alone
            size = 4
        elif named[-1] in _BASIC:
            size = _BASIC[named[-1]] or self.word
        else:
            size = _TYPES[named[-1]][0] // 8
        return size, min(size, self.max_align)

    def _body(self, kind: str, tokens: list[_Token]) -> tuple[int, int] | None:
        """A struct's members one after the other, each at its alignment; a union's all at 0."""
        size, align, depth, member = 0, 1, 0, []
        for token in tokens:
            if token.text == ";" and not depth:
                placed = self._member(member)
                member = []
                if placed is None:
                    return None
                for one_size, one_align in placed:
                    align = max(align, one_align)
                    size = max(size, one_size) if kind == "union" else -(-size // one_align) * one_align + one_size
                continue
            depth += {"{": 1, "}": -1}.get(token.text, 0)
            member.append(token)
        return -(-size // align) * align, align

    def _member(self, tokens: list[_Token]) -> list[tuple[int, int]] | None:
        """``(size, alignment)`` of each declarator of one member declaration."""
        if not tokens:
            return []
        if any(t.text in (":", "(") for t in tokens):
            return None  # a bit-field or a function pointer
        texts = [t.text for t in tokens]
        if "{" in texts:  # struct|union [tag] { ... } [declarators]
            depth, close = 0, None
            for k, text in enumerate(texts):
                depth += {"{": 1, "}": -1}.get(text, 0)
                if text == "}" and not depth:
                    close = k
                    break
            base, declarators = tokens[:close + 1], tokens[close + 1:]
        else:
            first = next((k for k, text in enumerate(texts) if text in ("[", ",")), len(texts))
            name_at = max((k for k in range(first) if tokens[k].kind == "name"), default=None)
            if name_at is None:
                return None
            base = [t for t in tokens[:name_at] if t.text != "*"]
            declarators = [t for t in tokens[:name_at] if t.text == "*"] + tokens[name_at:]
        of_base = self.of(base)
        if of_base is None:
            return None
        if not declarators:  # an anonymous struct or union: its members are the outer one's
            return [of_base]
        placed, current = [], []
        for token in declarators + [_Token("op", ",", 0, 0)]:
            if token.text != ",":
                current.append(token)
                continue
            pointer = any(t.text == "*" for t in current)
            size, align = (self.word, min(self.word, self.max_align)) if pointer else of_base
            for k, t in enumerate(current):
                if t.text == "[":
                    close = next(j for j in range(k, len(current)) if current[j].text == "]")
                    size *= _Parser(self.src, self.src.expand(current[k + 1:close]), self.src.arch).expression()
            placed.append((size, align))
            current = []
        return placed


# C's basic types by name: bytes (0: the arch's word), for sizeof (casts use _TYPES).
_BASIC = {"char": 1, "short": 2, "int": 4, "float": 4, "double": 8, "_Bool": 1, "void": 1, "size_t": 0,
          "ssize_t": 0, "ptrdiff_t": 0, "loff_t": 8, "pid_t": 4, "uid_t": 4, "gid_t": 4}


class HeaderReader:
    """The #defines and enum constants of header text as ``arch``'s compiler sees them, for
    tools/gen_constants.py: knowing no constants of its own, it computes them from the text."""

    def __init__(self, text: str, source: str, arch: str):
        self.src = _Source(text, source, arch, with_constants=False)
        self.enums = self._enumerators()

    def names(self) -> list[str]:
        """Every object-like macro and enumerator, in the order the text defines them."""
        macros = [name for name, macro in self.src.macros.items() if macro.params is None]
        return list(dict.fromkeys(macros + list(self.enums)))

    def value(self, name: str) -> int:
        """The value of ``name`` as a constant expression; a ``BpfsimError`` where it has none."""
        if name in self.enums:
            return self.enums[name]
        macro = self.src.macros[name]
        if not macro.body:
            raise self.src.fail(None, f"{name} is defined empty")
        parser = _Parser(self.src, self.src.expand([_Token("name", name, 0, 0)]), self.src.arch)
        value = parser.expression()
        if parser.peek() is not None:
            raise self.src.fail(parser.peek(), f"{name} is not a constant expression")
        return value

    def _enumerators(self) -> dict[str, int]:
        """``enum [tag] { NAME [= value], ... }``: each enumerator is the one before plus 1 unless
        given. An enumerator becomes a macro too, so later definitions can use it (even where a
        header also writes ``#define IPPROTO_IP IPPROTO_IP``)."""
        tokens, found = self.src.tokens, {}
        for i, token in enumerate(tokens):
            if token.text != "enum":
                continue
            start = i + 1 if i + 1 < len(tokens) and tokens[i + 1].text == "{" else i + 2
            if start >= len(tokens) or tokens[start].text != "{":
                continue
            entries, _ = self.src.arguments([_Token("op", "(", 0, 0)] + tokens[start + 1:self.src.matching(start)]
                                            + [_Token("op", ")", 0, 0)], 0)
            following = 0
            for entry in entries:
                if not entry or entry[0].kind != "name":
                    continue
                if len(entry) > 2 and entry[1].text == "=":
                    try:
                        following = _Parser(self.src, self.src.expand(entry[2:]), self.src.arch).expression()
                    except BpfsimError:
                        break  # this enumerator and the ones counted from it have no value here
                found[entry[0].text] = following
                self.src.macros[entry[0].text] = _Macro(None, (_Token("num", str(following), 0, 0),))
                following += 1
        return found


def _record(code: int, jt: int, jf: int, k: int) -> Instruction:
    """The values as the C initializer stores them in ``__u16 code; __u8 jt, jf; __u32 k``."""
    return Instruction(code & 0xFFFF, jt & 0xFF, jf & 0xFF, k & 0xFFFFFFFF)


def parse(text: str, *, symbol: str | None = None, name: str | None = None,
          arch: str | None = None, defines: Mapping[str, str] | None = None) -> tuple[list[Instruction], str]:
    """The sock_filter array ``symbol`` (or the only one) of a C file, or a bare initializer list,
    and the arch that numbered it: ``arch`` gives ``__NR_``/``SYS_`` names their numbers (default:
    x86_64, this machine's headers); ``defines`` are macros set as a compiler's ``-D NAME=VALUE``
    sets them (a build's configuration, such as OpenSSH's SANDBOX_SECCOMP_FILTER).
    ``Program.from_c`` wraps them.
    """
    source = name or "<string>"
    arch = arch or abi.NATIVE_ARCH.name
    try:
        src = _Source(text, source, arch, defines=defines)
        arrays = src.arrays()
        if symbol is not None and symbol not in arrays:
            known = ", ".join(arrays) or "none"
            raise FormatError(source, None, f"no struct sock_filter array named '{symbol}' (arrays: {known})"
                                            f"{_hidden_arrays(text, arrays)}")
        if symbol is None and len(arrays) > 1:
            raise FormatError(source, None, f"{len(arrays)} struct sock_filter arrays ({', '.join(arrays)}): "
                              f"name one by its symbol ({NAMING_ONE_FILTER})")
        if arrays:
            size_tokens, body = arrays[symbol or next(iter(arrays))]
        else:
            size_tokens, body = [], _bare_list(src)
        parser = _Parser(src, src.expand(body), arch)
        insns = parser.elements()
        if size_tokens:
            sizer = _Parser(src, src.expand(size_tokens), parser.arch)
            size = sizer.index(sizer.expression())
            if size < len(insns):
                raise src.fail(size_tokens[0], f"the array is declared with {size} elements and has {len(insns)}")
            insns += [Instruction(0)] * (size - len(insns))  # C zero-fills the rest
    except RecursionError:
        raise FormatError(source, None, "the C text nests too deeply") from None
    return insns, arch


def _predefined(arch: str) -> dict[str, int]:
    """The macros gcc predefines when it compiles for ``arch`` (``__x86_64__``, byte order, word size),
    and glibc's byte order names."""
    target = Target.of(arch)
    info, x32 = target.arch, target.x32
    family = {"x86_64": ["__x86_64__", "__x86_64", "__amd64__"], "i386": ["__i386__", "__i386"],
              "aarch64": ["__aarch64__"], "arm": ["__arm__"], "armeb": ["__arm__"], "riscv64": ["__riscv"],
              "riscv32": ["__riscv"], "s390x": ["__s390x__", "__s390__"], "s390": ["__s390__"],
              "ppc64le": ["__powerpc64__", "__powerpc__"], "ppc64": ["__powerpc64__", "__powerpc__"],
              "ppc": ["__powerpc__"], "loongarch64": ["__loongarch__"], "csky": ["__csky__"],
              "m68k": ["__m68k__"], "sh": ["__sh__"], "shel": ["__sh__"], "xtensa": ["__xtensa__"],
              "parisc": ["__hppa__"], "parisc64": ["__hppa__"]}.get(info.name, [])
    if info.name.startswith("mips"):
        family = ["__mips__"]
    bits = target.bits
    order = 1234 if info.byteorder == "little" else 4321
    names = dict.fromkeys(family, 1) | {"__linux__": 1, "__unix__": 1, "__BYTE_ORDER__": order,
                                         "__ORDER_LITTLE_ENDIAN__": 1234, "__ORDER_BIG_ENDIAN__": 4321,
                                         "__SIZEOF_LONG__": bits // 8, "__SIZEOF_POINTER__": bits // 8}
    # glibc's <endian.h> (bits/endian.h, bits/endianness.h), which filters test to find an argument's
    # low word (OpenSSH's sandbox-seccomp-filter.c: #if __BYTE_ORDER == __LITTLE_ENDIAN); undefined,
    # both sides would be 0 and every arch would read as little-endian.
    names |= {"__LITTLE_ENDIAN": 1234, "__BIG_ENDIAN": 4321, "__PDP_ENDIAN": 3412, "__BYTE_ORDER": order,
              "LITTLE_ENDIAN": 1234, "BIG_ENDIAN": 4321, "PDP_ENDIAN": 3412, "BYTE_ORDER": order}
    if x32:
        names["__ILP32__"] = 1
    elif bits == 64:
        names["__LP64__"] = 1
    return names


_DECLARED_ARRAY = re.compile(r"\bsock_filter\s+([A-Za-z_]\w*)\s*\[")


def _hidden_arrays(text: str, compiled) -> str:
    """Why an array the text declares was not read: it is inside an #if branch not taken for this
    arch and these macros (OpenSSH's is inside #ifdef SANDBOX_SECCOMP_FILTER, set by its build)."""
    hidden = [name for name in dict.fromkeys(_DECLARED_ARRAY.findall(text)) if name not in compiled]
    if not hidden:
        return ""
    where = "is inside an #if branch" if len(hidden) == 1 else "are inside #if branches"
    return (f"; {', '.join(hidden)} {where} not taken here (set the build's macros: -D NAME on the command "
            f"line, defines= from Python)")


def _bare_list(src: _Source) -> list[_Token]:
    """An initializer list without a declaration: ``BPF_STMT(...), ...`` or ``{ ... }`` rows, braces optional."""
    tokens = list(src.tokens)
    while tokens and tokens[-1].text == ";":
        tokens.pop()
    if tokens and tokens[0].text == "{" and src.matching(0) == len(tokens) - 1 and \
            len(tokens) > 1 and tokens[1].text in ("{", "BPF_STMT", "BPF_JUMP", "["):
        return tokens[1:-1]
    if not tokens:
        raise FormatError(src.source, None, "no struct sock_filter array and no initializer list"
                                            f"{_hidden_arrays(src.text, {})}")
    return tokens


# ---------------------------------------------------------------------------------------------
# Writing C.

def _k(insn: Instruction, a_holds: int | None, byteorder: str, errnos: dict[int, str]) -> str:
    row, k = insn.opcode, insn.k
    if row.form == op.ABS and insn.size == op.BPF_W and (field := abi.field_name(k, byteorder)):
        member = field.split(".")[0]
        base = {"nr": abi.OFFSET_NR, "arch": abi.OFFSET_ARCH, "instruction_pointer": abi.OFFSET_IP}.get(member)
        base = abi.offset_of_arg(int(member[5])) if base is None else base
        text = f"offsetof(struct seccomp_data, {member})"
        return text if k == base else f"{text} + {k - base}"
    if row.form == op.COND_K and a_holds == abi.OFFSET_ARCH and abi.arch_name(k):
        return abi.arch_info(k).constant
    if row.is_return and row.form == op.IMM:
        action, data = k & abi.SECCOMP_RET_ACTION_FULL, k & abi.SECCOMP_RET_DATA
        name = abi.ACTION_NAMES.get(action)
        if name is not None:
            if not data:
                return f"SECCOMP_RET_{name}"
            shown = errnos.get(data) if action == abi.SECCOMP_RET_ERRNO else None
            return f"SECCOMP_RET_{name} | {shown or hex_or_dec(data)}"
    return hex_or_dec(k)


def render(prog: Sequence[Instruction], *, symbol: str = "filter", arch: str | None = None) -> str:
    """A compilable C file declaring ``struct sock_filter SYMBOL[]`` that ``parse`` reads back exactly."""
    if not re.fullmatch(r"[A-Za-z_]\w*", symbol):
        raise ValueError(f"{symbol!r} is not a C identifier")
    target = Target.lenient(arch)
    order = byteorder_of(target)
    # An errno is named only where the name means the same number on x86_64, which parse()
    # assumes without arch=: ENOSYS is 89 on mips, so mips's 89 stays a number.
    generic = abi.errno_numbers()
    errnos = {n: name for n, name in abi.errno_names(target.arch if target else None).items() if generic.get(name) == n}
    comments = annotate(prog, arch=arch)
    a_holds = [facts.a_field for facts in path_facts(prog)]
    lines = ["#include <stddef.h>", "#include <errno.h>", "#include <linux/audit.h>", "#include <linux/filter.h>",
             "#include <linux/seccomp.h>", "", f"struct sock_filter {symbol}[] = {{"]
    texts = []
    for pc, insn in enumerate(prog):
        if not insn.is_canonical():
            texts.append(f"{{ {insn.code:#06x}, {insn.jt}, {insn.jf}, {insn.k:#010x} }},")
        elif insn.opcode.is_jump:
            texts.append(f"BPF_JUMP({insn.opcode.c_spelling}, {_k(insn, a_holds[pc], order, errnos)}, {insn.jt}, {insn.jf}),")
        else:
            texts.append(f"BPF_STMT({insn.opcode.c_spelling}, {_k(insn, a_holds[pc], order, errnos)}),")
    width = max((len(t) for t in texts), default=0)
    for pc, text in enumerate(texts):
        note = f": {comments[pc]}" if comments[pc] else ""
        lines.append(f"\t{text:<{width}}  /* {pc}{note} */")
    lines.append("};")
    return "\n".join(lines) + "\n"
