"""Assembler text ⇄ instructions: the kernel's bpf_asm dialect, seccomp-tools' pseudo-C, bytecode.

bpf_asm is tools/bpf/bpf_exp.l and bpf_exp.y (Linux 6.18) plus bpfsim's extensions: numeric jump
offsets, ``raw CODE, JT, JF, K``, an ``arch NAME`` directive, and seccomp_data field, AUDIT_ARCH,
syscall, action and errno names. Each line is read in the dialect its first word belongs to.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import abi
from . import opcodes as op
from .errors import AsmError, BpfsimError, FormatError
from .insn import Instruction, hex_or_dec
from .formatter import PathFacts, annotate, compared_meaning, names_constant, path_facts, syscall_arch
from .target import Target, byteorder_of

DIALECTS = ("bpf_asm", "pseudo_c")
U32 = 0xFFFFFFFF

# bpf_asm mnemonics (bpf_exp.l); "raw" is bpfsim's.
_LOADS = {"ld": op.BPF_W, "ldh": op.BPF_H, "ldb": op.BPF_B, "ldi": op.BPF_W}
_ALU = {name: code for code, name in op.ALU_MNEMONICS.items()}
_CONDITIONS = {name: code for code, name in op.JUMP_MNEMONICS.items()}
_NO_OPERAND = {row.mnemonic: code for code, row in op.OPCODES.items() if row.form == op.NONE}  # tax, txa, neg
# Pseudo-ops that bpf_asm lowers by putting the label in jf (bpf_exp.y: jneq, jlt, jle).
_NEGATED = {name: code for code, name in op.NEGATED_MNEMONICS.items()} | {"jneq": op.BPF_JEQ}
_MNEMONICS = frozenset({*_LOADS, "ldx", "ldxi", "ldxb", "st", "stx", "ja", "jmp", *_CONDITIONS,
                        *_NEGATED, *_ALU, "neg", "ret", "tax", "txa", "raw"})
# Socket extensions (bpf_exp.l; offsets from include/uapi/linux/filter.h SKF_AD_*).
_EXTENSIONS = {"proto": 0, "type": 4, "ifidx": 8, "nla": 12, "nlan": 16, "mark": 20, "queue": 24,
               "hatype": 28, "rxhash": 32, "cpu": 36, "vlan_tci": 44, "vlan_pr": 48,
               "vlan_avail": 48, "poff": 52, "rand": 56, "vlan_tpid": 60}

_ACTIONS = {name: value for value, name in abi.ACTION_NAMES.items()} | {"KILL": abi.SECCOMP_RET_KILL}

# Pseudo-C operators (seccomp-tools lib/seccomp-tools/asm/sasm.y).
_ALU_BY_SYMBOL = {sym + "=": code for code, sym in op.PSEUDO_C_OPERATORS.items()}
# The writer's comparisons read backwards: operator -> (jump operation, whether it names the
# condition that sends the jump to jf).
_COMPARE = {symbol: (code, negation) for code, pair in op.PSEUDO_C_COMPARISONS.items()
            for symbol, negation in zip(pair, (False, True)) if symbol}
# The operators written only inside ``!( )``: those without a negated operator of their own.
_NEGATION_OPERATORS = [true for true, false in op.PSEUDO_C_COMPARISONS.values() if false is None]

_TOKEN = re.compile(r"\s*(?:(?P<num>\d\w*)|(?P<name>[A-Za-z_]\w*)"
                    r"|(?P<op><<=|>>=|[-+*/%&|^]=|==|!=|>=|<=|<<|>>|\S))", re.ASCII)
_LABEL = re.compile(r"\s*([A-Za-z_]\w*|\d+)\s*:(?!=)", re.ASCII)
_RAW_COLUMNS = re.compile(r"\s*(0x[0-9a-fA-F]+)\s+(0x[0-9a-fA-F]+)\s+(0x[0-9a-fA-F]+)\s+(0x[0-9a-fA-F]+)(?:\s|$)")
_TABLE_HEADER = re.compile(r"\s*(line\s+CODE\s+JT\s+JF\s+K|=+)\s*")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "num", "name" or "op"
    text: str
    line: int
    column: int


@dataclass(slots=True)
class _Target:
    field: str  # "jt", "jf" or "k"
    token: _Token  # a label, or a number that is an offset unless a label has that spelling
    offset: int | None


@dataclass(slots=True)
class _Pending:
    code: int
    jt: int = 0
    jf: int = 0
    k: int = 0
    targets: tuple[_Target, ...] = ()


class _Cursor:
    """The tokens of one statement (a line, or the lines of a pseudo-C ``if``), read left to right."""

    def __init__(self, segments: list[tuple[str, int, int]], source: str):
        self.tokens: list[_Token] = []
        self.source = source
        for text, start, lineno in segments:
            pos = start
            while (match := _TOKEN.match(text, pos)) and match.lastgroup:
                group = match.lastgroup
                self.tokens.append(_Token(group, match.group(group), lineno, match.start(group) + 1))
                pos = match.end()
        text, _, self.lineno = segments[-1]
        self.end = len(text) + 1
        self.i = 0

    def peek(self, ahead: int = 0) -> _Token | None:
        i = self.i + ahead
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self, what: str = "more") -> _Token:
        token = self.peek()
        if token is None:
            raise self.fail(f"expected {what} at the end of the line")
        self.i += 1
        return token

    def accept(self, *texts: str) -> _Token | None:
        token = self.peek()
        if token is not None and token.text.lower() in texts:
            self.i += 1
            return token
        return None

    def expect(self, text: str) -> _Token:
        token = self.take(f"'{text}'")
        if token.text.lower() != text:
            raise self.fail(f"expected '{text}', found '{token.text}'", token)
        return token

    def finish(self) -> None:
        token = self.peek()
        if token is not None:
            raise self.fail(f"unexpected '{token.text}' after the instruction", token)

    def fail(self, message: str, token: _Token | None = None) -> AsmError:
        if token is None:
            return AsmError(self.source, self.lineno, message, column=self.end)
        return AsmError(self.source, token.line, message, column=token.column)


class _Assembler:
    """Two passes as in bpf_asm: parse every line into records, then resolve labels."""

    def __init__(self, source: str, arch: str | None, dialect: str | None):
        if dialect is not None and dialect not in DIALECTS:
            raise ValueError(f"dialect must be one of {DIALECTS}, not {dialect!r}")
        self.source, self.dialect = source, dialect
        self.arch = arch
        self.byteorder = byteorder_of(Target.lenient(arch))
        self.items: list[_Pending] = []
        self.labels: dict[str, int] = {}
        self.label_lines: dict[str, int] = {}
        self.waiting: list[tuple[str, int]] = []
        self.directive_arch: str | None = None
        self.open_if: list[tuple[str, int, int]] = []  # the lines of a pseudo-C if read so far
        self.open_depth, self.open_goto, self.open_last = 0, False, ""  # what they hold so far

    # -- lines ---------------------------------------------------------------------------------
    def line(self, text: str, lineno: int) -> None:
        if self.open_if:
            segment = (text.split("#", 1)[0], 0, lineno)
            words = [t.text.lower() for t in _Cursor([segment], self.source).tokens]
            if self.if_needs_more() or words[:1] == ["else"]:
                self.extend_if(segment, words)
                return
            self.close_if()
        pos = 0
        while match := _LABEL.match(text, pos):
            self.define(match.group(1), lineno, match.start(1) + 1)
            pos = match.end()
        if _TABLE_HEADER.fullmatch(text, pos):
            return
        if raw := _RAW_COLUMNS.match(text, pos):
            code, jt, jf, k = (int(v, 16) for v in raw.groups())
            self.add(self.checked_record(code, jt, jf, k, lineno, raw.start(1) + 1))
            return
        cur = _Cursor([(text, pos, lineno)], self.source)
        first = cur.peek()
        if first is None:
            return
        word = first.text.lower() if first.kind == "name" else ""
        if word == "arch" and cur.peek(1) and cur.peek(1).kind == "name":
            self.directive(cur)
            return
        bpf_asm = word in _MNEMONICS and not (self.dialect == "pseudo_c" and word == "jmp")
        if bpf_asm and self.dialect == "pseudo_c" and word != "raw":
            raise cur.fail(f"'{first.text}' is bpf_asm, not pseudo-C", first)
        if not bpf_asm and self.dialect == "bpf_asm":
            raise cur.fail(f"unknown mnemonic '{first.text}'", first)
        if not bpf_asm or word == "raw":
            cur = _Cursor([(text.split("#", 1)[0], pos, lineno)], self.source)  # seccomp-tools comments
        if word == "if":  # seccomp-tools lets an if run over several lines, and else come on the next
            self.open_depth, self.open_goto, self.open_last = 0, False, ""
            self.extend_if((text.split("#", 1)[0], pos, lineno), [t.text.lower() for t in cur.tokens])
            return
        self.add(self.bpf_asm(cur) if bpf_asm else self.pseudo_c(cur))
        cur.finish()

    def extend_if(self, segment: tuple[str, int, int], words: list[str]) -> None:
        self.open_if.append(segment)
        self.open_depth += words.count("(") - words.count(")")
        self.open_goto = self.open_goto or "goto" in words
        self.open_last = words[-1] if words else self.open_last

    def if_needs_more(self) -> bool:
        """A pseudo-C if is incomplete while a parenthesis is open or a goto or else lacks its target."""
        return self.open_depth > 0 or not self.open_goto or self.open_last in ("goto", "else")

    def close_if(self) -> None:
        cur = _Cursor(self.open_if, self.source)
        self.open_if = []
        cur.take()
        self.add(self.if_goto(cur))
        cur.finish()

    def define(self, label: str, lineno: int, column: int) -> None:
        if label in self.label_lines:
            raise AsmError(self.source, lineno, f"label '{label}' is already defined on line "
                           f"{self.label_lines[label]}", column=column)
        self.label_lines[label] = lineno
        self.waiting.append((label, lineno))

    def add(self, item: _Pending) -> None:
        for label, _ in self.waiting:
            self.labels[label] = len(self.items)
        self.waiting.clear()
        self.items.append(item)

    def directive(self, cur: _Cursor) -> None:
        cur.take()
        token = cur.take()
        try:
            target = Target.of(token.text)
        except abi.UnknownArchError as unknown:
            raise cur.fail(str(unknown), token) from None
        self.arch = target.name
        self.byteorder = target.byteorder
        self.directive_arch = self.arch
        cur.finish()

    def checked_record(self, code: int, jt: int, jf: int, k: int, lineno: int, column: int) -> _Pending:
        if code > 0xFFFF or jt > 0xFF or jf > 0xFF or k > U32:
            raise AsmError(self.source, lineno, "a record is code (16 bits), jt, jf (8 bits each), k (32 bits)",
                           column=column)
        return _Pending(code, jt, jf, k)

    # -- values --------------------------------------------------------------------------------
    def number(self, cur: _Cursor, token: _Token, octal: bool) -> int:
        text = token.text.lower()
        try:
            if text.startswith("0x"):
                value = int(text[2:], 16)
            elif text.startswith("0b"):
                value = int(text[2:], 2)
            elif octal and len(text) > 1 and text.startswith("0"):
                value = int(text[1:], 8)
            else:
                value = int(text, 10)
        except ValueError:
            raise cur.fail(f"'{token.text}' is not a number", token) from None
        if value > U32:
            raise cur.fail(f"{token.text} does not fit in 32 bits", token)
        return value

    def value(self, cur: _Cursor, *, octal: bool = True) -> int:
        """A number or a name: action, AUDIT_ARCH, errno or (given an arch) syscall."""
        minus = cur.accept("-")
        token = cur.take("a value")
        if token.kind == "num":
            value = self.number(cur, token, octal)
        elif token.kind == "name":
            value = self.named(cur, token, octal)
        elif token.text == "(":
            value = self.value(cur, octal=octal)
            cur.expect(")")
        else:
            raise cur.fail(f"expected a value, found '{token.text}'", token)
        if minus:
            if value > 1 << 31:
                raise cur.fail(f"-{value} does not fit in 32 bits", token)
            value = -value & U32
        return value

    def named(self, cur: _Cursor, token: _Token, octal: bool) -> int:
        name = token.text
        action = _ACTIONS.get(name.removeprefix("SECCOMP_RET_"))
        if action is not None:
            if not cur.accept("("):
                return action
            data = self.value(cur, octal=octal)
            cur.expect(")")
            if data > abi.SECCOMP_RET_DATA:
                raise cur.fail(f"{name}({data}): the data of an action is 16 bits", token)
            return action | data
        if name.isupper() and name.startswith(("AUDIT_ARCH_", "ARCH_")):
            try:
                return abi.arch_info("AUDIT_" + name.removeprefix("AUDIT_")).value
            except abi.UnknownArchError:
                raise cur.fail(f"unknown architecture constant '{name}'", token) from None
        try:
            return abi.errno_number(name, self.arch)  # numbered as the arch's <asm/errno.h> says
        except KeyError:
            pass
        if self.arch is None:
            raise cur.fail(f"unknown name '{name}' (a syscall name needs the filter's arch: an 'arch x86_64' "
                           "line first, or arch= (--filter-arch on the command line))", token)
        from .syscalls import syscall_number
        try:
            return syscall_number(name, self.arch)
        except BpfsimError as unknown:
            raise cur.fail(f"unknown name '{name}': {unknown}", token) from None

    def field(self, cur: _Cursor, *, pseudo_c: bool = False) -> int | None:
        """A seccomp_data word named as bpfsim (``args[1].hi``) or seccomp-tools (``args_h[1]``) does."""
        token = cur.peek()
        if token is None or token.kind != "name":
            return None
        name = token.text.lower()
        if name in ("nr", "sys_number"):
            cur.take()
            return abi.OFFSET_NR
        if name == "arch":
            cur.take()
            return abi.OFFSET_ARCH
        if name == "instruction_pointer":
            cur.take()
            base = abi.OFFSET_IP
        elif name in ("args", "args_h"):
            cur.take()
            cur.expect("[")
            index_token = cur.peek()
            index = self.value(cur)
            if index > 5:
                raise cur.fail(f"seccomp_data has args[0] to args[5], not args[{index}]", index_token)
            cur.expect("]")
            base = abi.offset_of_arg(index)
            if name == "args_h":
                return self.half(base, True)
        else:
            return None
        if cur.accept("."):
            half = cur.take("lo or hi")
            if half.text.lower() not in ("lo", "hi"):
                raise cur.fail(f"expected .lo or .hi, found '.{half.text}'", half)
            return self.half(base, half.text.lower() == "hi")
        if pseudo_c and cur.accept(">>"):
            shift = cur.take("32")
            if shift.text != "32":
                raise cur.fail("only '>> 32' may follow a 64-bit field", shift)
            return self.half(base, True)
        return self.half(base, False)

    def half(self, base: int, high: bool) -> int:
        """The offset of a 64-bit field's low or high word in this arch's byte order."""
        return base + 4 if high == (self.byteorder == "little") else base

    def target(self, cur: _Cursor, field: str, *, octal: bool = True) -> _Target:
        token = cur.take("a jump target")
        if token.kind == "name":  # seccomp-tools' "next" is the next instruction unless a label has that name
            return _Target(field, token, 0 if token.text == "next" else None)
        if token.kind != "num":
            raise cur.fail(f"expected a label or an offset, found '{token.text}'", token)
        try:
            return _Target(field, token, self.number(cur, token, octal))
        except AsmError:
            return _Target(field, token, None)

    # -- bpf_asm -------------------------------------------------------------------------------
    def bpf_asm(self, cur: _Cursor) -> _Pending:
        mnemonic = cur.take().text.lower()
        if mnemonic == "raw":
            first = cur.peek()
            fields = [self.value(cur)]
            for _ in range(3):
                cur.expect(",")
                fields.append(self.value(cur))
            return self.checked_record(*fields, first.line, first.column)
        if mnemonic in _NO_OPERAND:
            return _Pending(_NO_OPERAND[mnemonic])
        if mnemonic in _LOADS:
            return self.load(cur, mnemonic)
        if mnemonic in ("ldx", "ldxi", "ldxb"):
            return self.load_x(cur, mnemonic)
        if mnemonic in ("st", "stx"):
            return _Pending(op.BPF_ST if mnemonic == "st" else op.BPF_STX, k=self.scratch(cur))
        if mnemonic in ("ja", "jmp"):
            return _Pending(op.BPF_JMP | op.BPF_JA, targets=(self.target(cur, "k"),))
        if mnemonic in _CONDITIONS or mnemonic in _NEGATED:
            return self.condition(cur, mnemonic)
        if mnemonic in _ALU:
            src, k = self.operand(cur)
            return _Pending(op.BPF_ALU | _ALU[mnemonic] | src, k=k)
        return self.ret(cur)

    def operand(self, cur: _Cursor) -> tuple[int, int]:
        """``x``, ``%x`` or ``#k``: the source bit and k."""
        cur.accept("%")
        if cur.accept("x"):
            return op.BPF_X, 0
        cur.expect("#")
        return op.BPF_K, self.value(cur)

    def scratch(self, cur: _Cursor) -> int:
        cur.expect("m")
        cur.expect("[")
        k = self.value(cur)
        cur.expect("]")
        return k

    def load(self, cur: _Cursor, mnemonic: str) -> _Pending:
        size = _LOADS[mnemonic]
        word = mnemonic in ("ld", "ldi")
        hashed = cur.accept("#")
        token = cur.peek()
        if token is not None and token.kind == "name" and mnemonic != "ldi":
            name = token.text.lower()
            if name == "len" and word:
                cur.take()
                return _Pending(op.BPF_LD | op.BPF_W | op.BPF_LEN)
            if name in _EXTENSIONS:
                cur.take()
                return _Pending(op.BPF_LD | size | op.BPF_ABS, k=op.SKF_AD_OFF + _EXTENSIONS[name])
        if hashed or mnemonic == "ldi":
            if not word:
                raise cur.fail(f"{mnemonic} has no immediate form", token)
            return _Pending(op.BPF_LD | op.BPF_IMM, k=self.value(cur))
        if token is not None and token.text.lower() == "m" and word:
            return _Pending(op.BPF_LD | op.BPF_MEM, k=self.scratch(cur))
        cur.expect("[")
        if cur.accept("%") or (cur.peek() and cur.peek().text.lower() == "x" and cur.peek(1) and cur.peek(1).text == "+"):
            cur.expect("x")
            cur.expect("+")
            k = self.value(cur)
            cur.expect("]")
            return _Pending(op.BPF_LD | size | op.BPF_IND, k=k)
        k = self.field(cur)
        if k is None:
            k = self.value(cur)
        cur.expect("]")
        return _Pending(op.BPF_LD | size | op.BPF_ABS, k=k)

    def load_x(self, cur: _Cursor, mnemonic: str) -> _Pending:
        first = cur.peek()
        if first is not None and first.kind == "num" and cur.peek(1) and cur.peek(1).text == "*":
            four = self.value(cur)
            for text in ("*", "(", "["):
                cur.expect(text)
            k = self.value(cur)
            cur.expect("]")
            cur.expect("&")
            mask = self.value(cur)
            cur.expect(")")
            if (four, mask) != (4, 0xF):
                raise cur.fail("only 4*([k]&0xf) can be loaded this way (bpf_asm: ldxb offset not supported)", first)
            return _Pending(op.BPF_LDX | op.BPF_B | op.BPF_MSH, k=k)
        if mnemonic == "ldxb":
            raise cur.fail("ldxb takes 4*([k]&0xf)", first)
        hashed = cur.accept("#")
        if cur.accept("len"):
            return _Pending(op.BPF_LDX | op.BPF_W | op.BPF_LEN)
        if hashed or mnemonic == "ldxi":
            return _Pending(op.BPF_LDX | op.BPF_IMM, k=self.value(cur))
        return _Pending(op.BPF_LDX | op.BPF_MEM, k=self.scratch(cur))

    def condition(self, cur: _Cursor, mnemonic: str) -> _Pending:
        negated = mnemonic in _NEGATED
        operation = _NEGATED[mnemonic] if negated else _CONDITIONS[mnemonic]
        src, k = self.operand(cur)
        cur.expect(",")
        first = self.target(cur, "jt")
        second = None
        if cur.accept(","):
            second = self.target(cur, "jf")
        targets = (first,) if second is None else (first, second)
        if negated:
            for target in targets:
                target.field = "jf" if target.field == "jt" else "jt"
        return _Pending(op.BPF_JMP | operation | src, k=k, targets=targets)

    def ret(self, cur: _Cursor) -> _Pending:
        cur.accept("%")
        if cur.accept("a"):
            return _Pending(op.BPF_RET | op.BPF_A)
        if cur.accept("x"):
            return _Pending(op.BPF_RET | op.BPF_X)  # bpf_exp.y encodes it; the kernel refuses it
        cur.accept("#")
        return _Pending(op.BPF_RET | op.BPF_K, k=self.value(cur))

    # -- pseudo-C ------------------------------------------------------------------------------
    def pseudo_c(self, cur: _Cursor) -> _Pending:
        first = cur.take()
        word = first.text.lower()
        if word == "return":
            if cur.accept("a"):
                return _Pending(op.BPF_RET | op.BPF_A)
            if cur.accept("x"):
                return _Pending(op.BPF_RET | op.BPF_X)
            return _Pending(op.BPF_RET | op.BPF_K, k=self.value(cur, octal=False))
        if word in ("goto", "jmp", "jump"):
            return _Pending(op.BPF_JMP | op.BPF_JA, targets=(self.target(cur, "k", octal=False),))
        if word == "if":
            return self.if_goto(cur)
        if word == "mem":
            cur.expect("[")
            k = self.value(cur, octal=False)
            cur.expect("]")
            cur.expect("=")
            register = cur.take("A or X")
            if register.text.lower() not in ("a", "x"):
                raise cur.fail(f"only A or X can be stored, not '{register.text}'", register)
            return _Pending(op.BPF_ST if register.text.lower() == "a" else op.BPF_STX, k=k)
        if word == "a" and cur.peek() and cur.peek().text in _COMPARE:
            return self.ternary(cur)
        if word == "a":
            return self.assign_a(cur)
        if word == "x":
            return self.assign_x(cur)
        raise cur.fail(f"unknown mnemonic or statement '{first.text}'", first)

    def assign_a(self, cur: _Cursor) -> _Pending:
        token = cur.take("'=' or an operator")
        if token.text in _ALU_BY_SYMBOL:
            if cur.accept("x"):
                return _Pending(op.BPF_ALU | _ALU_BY_SYMBOL[token.text] | op.BPF_X)
            return _Pending(op.BPF_ALU | _ALU_BY_SYMBOL[token.text] | op.BPF_K, k=self.value(cur, octal=False))
        if token.text != "=":
            raise cur.fail(f"expected '=' or an operator such as '+=', found '{token.text}'", token)
        if cur.accept("x"):
            return _Pending(op.BPF_MISC | op.BPF_TXA)
        if cur.peek() and cur.peek().text == "-" and cur.peek(1) and cur.peek(1).text.lower() == "a":
            cur.take(), cur.take()
            return _Pending(op.BPF_ALU | op.BPF_NEG)
        if cur.accept("len"):
            return _Pending(op.BPF_LD | op.BPF_W | op.BPF_LEN)
        if cur.accept("mem"):
            return _Pending(op.BPF_LD | op.BPF_MEM, k=self.bracketed(cur))
        if cur.accept("data"):
            return _Pending(op.BPF_LD | op.BPF_W | op.BPF_ABS, k=self.bracketed(cur))
        k = self.field(cur, pseudo_c=True)
        if k is not None:
            return _Pending(op.BPF_LD | op.BPF_W | op.BPF_ABS, k=k)
        return _Pending(op.BPF_LD | op.BPF_IMM, k=self.value(cur, octal=False))

    def assign_x(self, cur: _Cursor) -> _Pending:
        cur.expect("=")
        if cur.accept("a"):
            return _Pending(op.BPF_MISC | op.BPF_TAX)
        if cur.accept("len"):
            return _Pending(op.BPF_LDX | op.BPF_W | op.BPF_LEN)
        if cur.accept("mem"):
            return _Pending(op.BPF_LDX | op.BPF_MEM, k=self.bracketed(cur))
        return _Pending(op.BPF_LDX | op.BPF_IMM, k=self.value(cur, octal=False))

    def bracketed(self, cur: _Cursor) -> int:
        cur.expect("[")
        k = self.value(cur, octal=False)
        cur.expect("]")
        return k

    def ternary(self, cur: _Cursor) -> _Pending:
        """seccomp-tools' ``A == read ? allow : next``."""
        operation, swapped = _COMPARE[cur.take().text]
        src, k = (op.BPF_X, 0) if cur.accept("x") else (op.BPF_K, self.value(cur, octal=False))
        cur.expect("?")
        yes = self.target(cur, "jf" if swapped else "jt", octal=False)
        cur.expect(":")
        no = self.target(cur, "jt" if swapped else "jf", octal=False)
        return _Pending(op.BPF_JMP | operation | src, k=k, targets=(yes, no))

    def if_goto(self, cur: _Cursor) -> _Pending:
        """``if (A op v) goto T [else goto F]``, also ``if (!(A & v))`` and ``if !(A & v)``."""
        depth = 0
        while cur.accept("("):
            depth += 1
        negated = bool(cur.accept("!"))
        if negated:
            cur.expect("(")
        cur.expect("a")
        symbol = cur.take("a comparison")
        if symbol.text not in _COMPARE or (negated and symbol.text not in _NEGATION_OPERATORS):
            allowed = _NEGATION_OPERATORS if negated else list(_COMPARE)
            raise cur.fail(f"expected {', '.join(allowed)}, found '{symbol.text}'", symbol)
        operation, swapped = _COMPARE[symbol.text]
        if cur.accept("x"):
            src, k = op.BPF_X, 0
        else:
            src, k = op.BPF_K, self.value(cur, octal=False)
        if negated:
            cur.expect(")")
            swapped = True
        for _ in range(depth):
            cur.expect(")")
        if depth == 0 and not negated:
            raise cur.fail("the condition of an if goes in parentheses", symbol)
        cur.expect("goto")
        targets = [self.target(cur, "jt", octal=False)]
        if cur.accept("else"):
            cur.expect("goto")
            targets.append(self.target(cur, "jf", octal=False))
        if swapped:
            for target in targets:
                target.field = "jf" if target.field == "jt" else "jt"
        return _Pending(op.BPF_JMP | operation | src, k=k, targets=tuple(targets))

    # -- pass two ------------------------------------------------------------------------------
    def resolve(self) -> list[Instruction]:
        if self.waiting:
            label, lineno = self.waiting[0]
            raise AsmError(self.source, lineno, f"label '{label}' marks no instruction")
        insns = []
        for pc, item in enumerate(self.items):
            fields = {"jt": item.jt, "jf": item.jf, "k": item.k}
            for target in item.targets:
                fields[target.field] = self.offset(pc, target)
            insns.append(Instruction(item.code, fields["jt"], fields["jf"], fields["k"]))
        return insns

    def offset(self, pc: int, target: _Target) -> int:
        """The jt, jf or k that reaches ``target`` from ``pc``, checked as bpf_asm checks it."""
        name, line, column = target.token.text, target.token.line, target.token.column
        dest = self.labels.get(name)
        if dest is None:
            if target.offset is None:
                raise AsmError(self.source, line, f"undefined label '{name}'", column=column)
            if target.field != "k" and target.offset > 0xFF:
                raise AsmError(self.source, line, f"conditional jump offset {target.offset} is more than 255",
                               column=column)
            return target.offset
        offset = dest - pc - 1
        if offset < 0:
            raise AsmError(self.source, line, f"jump backwards to '{name}' (insn {pc} to insn {dest}): "
                           "classic BPF only jumps forward", column=column)
        if target.field != "k" and offset > 0xFF:
            raise AsmError(self.source, line, f"insn {pc} jumps to '{name}' (insn {dest}), {offset} ahead: "
                           "conditional jumps reach 255 at most", column=column)
        return offset


_COMMENT = re.compile(r"(?:;|//)[^\n]*|/\*.*?(\*/|\Z)", re.S)  # whichever starts first, as bpf_exp.l


def _strip_comments(text: str, source: str) -> list[str]:
    """Lines with comments blanked out, so that line and column numbers still match the input."""
    def blank(match: re.Match) -> str:
        if match.group(0).startswith("/*") and not match.group(1):
            line = text.count("\n", 0, match.start()) + 1
            raise AsmError(source, line, "this /* comment is never closed",
                           column=match.start() - text.rfind("\n", 0, match.start()))
        return re.sub(r"[^\n]", " ", match.group(0))
    lines = _COMMENT.sub(blank, text).split("\n")
    return ["" if line.lstrip().startswith("#") else line for line in lines]


def assemble(text: str, *, name: str | None = None, arch: str | None = None,
             dialect: str | None = None) -> tuple[list[Instruction], str | None]:
    """Assemble bpf_asm or pseudo-C text (``dialect=None`` reads each line as it comes): the
    instructions, and the arch that numbered its names (its ``arch`` line, else ``arch``).
    ``Program.from_asm`` wraps them."""
    if not isinstance(text, str):
        raise TypeError(f"assemble() takes text, not {type(text).__name__}")
    source = name or "<string>"
    if arch is not None:
        try:
            abi.arch_info(arch)
        except abi.UnknownArchError as unknown:
            raise AsmError(source, None, str(unknown)) from None
    assembler = _Assembler(source, arch, dialect)
    try:
        for lineno, line in enumerate(_strip_comments(text, source), 1):
            assembler.line(line, lineno)
        if assembler.open_if:
            assembler.close_if()
    except RecursionError:
        raise AsmError(source, lineno, "parentheses nest too deeply") from None
    return assembler.resolve(), assembler.directive_arch or arch


# ---------------------------------------------------------------------------------------------
# Writing text.


def _directive_arch(arch: str | None) -> str | None:
    """The arch name the ``arch`` directive will carry, or ``None`` when bpfsim does not know it."""
    target = Target.lenient(arch)
    return target.name if target else None


def _label(pc: int) -> str:
    return f"L{pc:04d}"


def _fill(template: str, fills: dict[str, Callable[[], object]]) -> str:
    """``template`` with the fields it names worked out, and only those: naming a jump target is
    what gives its pc a label."""
    named = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    return template.format(**{name: fills[name]() for name in named})


class _Writer:
    """Render one program; collects the pcs that need a label while writing jumps."""

    def __init__(self, prog: Sequence[Instruction], arch: str | None):
        self.prog, self.arch = prog, arch
        self.byteorder = byteorder_of(Target.lenient(arch))
        self.labelled: set[int] = set()

    def target(self, pc: int, offset: int) -> str:
        dest = pc + 1 + offset
        if dest < len(self.prog):
            self.labelled.add(dest)
            return _label(dest)
        return str(offset)

    def bpf_asm(self, pc: int, insn: Instruction) -> str:
        """The row's bpf_asm text with labels for jump offsets (``ja``'s k, jt, jf)."""
        row = insn.opcode
        if not insn.is_canonical() or not row.is_jump:
            return str(insn)
        template = row.asm_text
        if row.is_conditional and insn.jf == 0 and insn.jt != 0:
            template = row.asm_jt_only
        elif row.is_conditional and insn.jt == 0 and insn.jf != 0 and row.asm_jf_only:
            template = row.asm_jf_only
        return _fill(template, {"k": lambda: self.target(pc, insn.k), "imm": lambda: hex_or_dec(insn.k),
                                "jt": lambda: self.target(pc, insn.jt), "jf": lambda: self.target(pc, insn.jf)})

    def field(self, k: int) -> str:
        if k == abi.OFFSET_NR:
            return "sys_number"
        if k == abi.OFFSET_ARCH:
            return "arch"
        name = abi.field_name(k, self.byteorder)
        if name is None:
            return f"data[{hex_or_dec(k)}]"
        base, half = name.split(".")
        return base if half == "lo" else f"{base} >> 32"

    def constant(self, k: int, facts: PathFacts, row: op.Opcode) -> str:
        """An arch constant, or for an equality on nr a syscall name (``names_constant``), as
        seccomp-tools shows them. A name goes in the text only where the path's arch is the
        text's ``arch`` line, which numbers it when the text is assembled again."""
        if not names_constant(row, facts.a_field):
            return hex_or_dec(k)
        if facts.a_field == abi.OFFSET_ARCH and abi.arch_name(k):
            return abi.arch_info(k).constant
        if facts.a_field == abi.OFFSET_NR and self.arch and syscall_arch(facts, self.arch) == self.arch:
            from .syscalls import syscall_name, syscall_number
            try:
                name = syscall_name(k, self.arch)
                if name and syscall_number(name, self.arch) == k and name not in _RESERVED:
                    return name
            except BpfsimError:
                pass
        return hex_or_dec(k)

    def pseudo_c(self, pc: int, insn: Instruction, facts: PathFacts) -> str:
        """The row's pseudo-C statement filled in; a label is made only for a target it names."""
        row = insn.opcode
        if not insn.is_canonical():
            return str(insn)
        if row.pseudo_c_text is None:
            return f"raw {insn.code:#06x}, {insn.jt}, {insn.jf}, {insn.k:#x}"
        k = insn.k
        only_false = row.is_conditional and insn.jt == 0 and insn.jf != 0
        template = row.pseudo_c_negated if only_false else row.pseudo_c_text
        if row.is_conditional and not only_false and insn.jf != 0:
            template += " else goto {jf}"
        fills = {"k": lambda: k, "imm": lambda: hex_or_dec(k), "field": lambda: self.field(k),
                 "action": lambda: _action(k), "rhs": lambda: self.constant(k, facts, row),
                 "ja": lambda: self.target(pc, k), "jt": lambda: self.target(pc, insn.jt),
                 "jf": lambda: self.target(pc, insn.jf)}
        return _fill(template, fills)


_RESERVED = frozenset({"a", "x", "len", "mem", "data", "args", "args_h", "arch", "sys_number", "nr",
                       "instruction_pointer", "if", "else", "goto", "return", "jmp", "jump"})


def _named_elsewhere(insn: Instruction, facts: PathFacts, arch: str | None) -> str:
    """The comment for a syscall number the text cannot name: its path checked another arch
    than the text's ``arch`` line (or the text has none), as in the i386 half of a multi-arch
    filter: ``clone (i386)``."""
    named_by = syscall_arch(facts, arch)
    if facts.a_field != abi.OFFSET_NR or named_by in (None, arch):
        return ""
    meaning = compared_meaning(insn, facts, arch)
    return f"{meaning} ({named_by})" if meaning else ""


def _action(k: int) -> str:
    """``ALLOW``, ``ERRNO(1)``, ``TRACE(5)``, or the number when the action is unknown."""
    known = k & abi.SECCOMP_RET_ACTION_FULL in abi.ACTION_NAMES
    return abi.describe_return(k) if known else f"{k:#x}"


def disassemble(prog: Sequence[Instruction], *, arch: str | None = None, dialect: str = "bpf_asm") -> str:
    """Text that ``assemble`` turns back into exactly ``prog``, with labels and a comment column."""
    if dialect not in DIALECTS:
        raise ValueError(f"dialect must be one of {DIALECTS}, not {dialect!r}")
    arch = _directive_arch(arch if arch is not None else getattr(prog, "arch", None))
    writer = _Writer(prog, arch)
    if dialect == "bpf_asm":
        texts = [writer.bpf_asm(pc, insn) for pc, insn in enumerate(prog)]
        comments = annotate(prog, arch=arch, jumps=False)
        marker = ";"
    else:
        facts = path_facts(prog)
        texts = [writer.pseudo_c(pc, insn, facts[pc]) for pc, insn in enumerate(prog)]
        comments = [str(insn) if text.startswith("raw") and insn.is_canonical() else _named_elsewhere(insn, here, arch)
                    for text, insn, here in zip(texts, prog, facts)]
        marker = "#"
    indent = max((len(_label(pc)) + 2 for pc in writer.labelled), default=8)
    indent = max(indent, 8)
    width = max((len(t) for t in texts), default=0)
    lines = [f"arch {arch}"] if arch else []
    for pc, (text, comment) in enumerate(zip(texts, comments)):
        head = f"{_label(pc)}:" if pc in writer.labelled else ""
        line = f"{head:<{indent}}{text:<{width}}  {marker} {comment}" if comment else f"{head:<{indent}}{text}"
        lines.append(line.rstrip())
    return "\n".join(lines) + ("\n" if lines else "")


# ---------------------------------------------------------------------------------------------
# Bytecode: bpf_asm's default output, "N,code jt jf k,code jt jf k,...", as xt_bpf and bpf_dbg read it.

BYTECODE = re.compile(r"\s*\d+[ \t]*[,\n](?:\s*\d+[ \t]+\d+[ \t]+\d+[ \t]+\d+[ \t]*(?:[,\n]|\Z))*\s*", re.ASCII)


def parse_bytecode(text: str, *, name: str | None = None) -> list[Instruction]:
    """bpf_asm's ``N,code jt jf k,...`` string (tcpdump -ddd's one-record-per-line form too)."""
    source = name or "<string>"
    parts = [(m.group(0).strip(), text.count("\n", 0, m.start()) + 1) for m in re.finditer(r"[^,\n]+", text)]
    parts = [(p, line) for p, line in parts if p]
    if not parts or not re.fullmatch(r"[0-9]+", parts[0][0]):
        raise FormatError(source, parts[0][1] if parts else None, "bytecode starts with the instruction count")
    count = int(parts[0][0])
    insns = []
    for index, (part, line) in enumerate(parts[1:]):
        fields = part.split()
        if len(fields) != 4 or not all(re.fullmatch(r"[0-9]+", f) for f in fields):
            raise FormatError(source, line, f"record {index} is '{part}', not 'code jt jf k' in decimal")
        try:
            insns.append(Instruction(*map(int, fields)))
        except ValueError as bad:
            raise FormatError(source, line, f"record {index}: {bad}") from None
    if count != len(insns):
        raise FormatError(source, parts[0][1], f"the count says {count} instructions, {len(insns)} follow")
    return insns


def format_bytecode(prog: Sequence[Instruction]) -> str:
    """The string bpf_asm prints by default (bpf_exp.y ``bpf_pretty_print``)."""
    return f"{len(prog)}," + "".join(f"{i.code} {i.jt} {i.jf} {i.k}," for i in prog) + "\n"
