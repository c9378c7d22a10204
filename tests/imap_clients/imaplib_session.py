#!/usr/bin/env python3
"""Python's imaplib through every command of RFC 3501 and every extension
msgstore advertises, against a running `msgstore serve`, checking the answers.

    imaplib_session.py --msgstore BIN --store DIR tcp PORT PASSWORD CAFILE
    imaplib_session.py --msgstore BIN --store DIR stdio

In `tcp` mode the server listens on 127.0.0.1:PORT with a certificate for
STARTTLS, and joe's password is PASSWORD; `stdio` runs `serve --stdio --user
joe` as imaplib's IMAP4_stream (PREAUTH) and skips what needs a login. The
store holds users joe (empty INBOX) and ann (INBOX and Private, one message
each), made by the caller.

Each check prints `ok NAME` or `FAIL NAME: why`; the last line is `RESULT
passed=N failed=M`, and the exit status is 1 if anything failed. Every wait is
bounded: sockets time out, IDLE waits at most a few seconds.
"""
import argparse
import base64
import imaplib
import queue
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback

# Commands imaplib 3.11 does not know.
for _name in ("ID", "UNSELECT", "ENABLE", "MOVE", "NAMESPACE"):
    imaplib.Commands.setdefault(_name, ("NONAUTH", "AUTH", "SELECTED"))

TIMEOUT = 20


class Recorder:
    """Keeps every response line read (literals as `<n bytes>`)."""

    def _get_line(self):
        line = super()._get_line()
        self.lines.append(line)
        return line

    def read(self, size):
        data = super().read(size)
        self.lines.append(b"<%d bytes>" % len(data))
        return data


class Tcp(Recorder, imaplib.IMAP4):
    def __init__(self, port):
        self.lines = []
        super().__init__("127.0.0.1", port, timeout=TIMEOUT)


class Stream(Recorder, imaplib.IMAP4_stream):
    def __init__(self, command):
        self.lines = []
        super().__init__(command)


class Failed(Exception):
    pass


def check(cond, why):
    if not cond:
        raise Failed(why)


def text(lines):
    return "\n".join(l.decode("utf-8", "replace") for l in lines)


def run(M, name, *args):
    """One command: (status, data, the response lines)."""
    M.lines = []
    try:
        typ, data = M._simple_command(name, *args)
    except M.error as e:
        typ, data = "BAD", [str(e).encode()]
    # imaplib keeps untagged data until a method of its own takes it: drop it,
    # so that the next M.fetch() and the like see their own replies only.
    M.untagged_responses.clear()
    return typ, data, list(M.lines)


def raw(M, line, literal=None):
    """Sends one command line as given (a LITERAL+ literal appended), gives
    (status, response lines)."""
    tag = M._new_tag()
    M.tagged_commands[tag] = None
    M.lines = []
    data = tag + b" " + line
    if literal is not None:
        data += b" {%d+}\r\n" % len(literal) + literal
    M.send(data + b"\r\n")
    try:
        typ, _ = M._get_tagged_response(tag)
    except M.error:
        typ = "BAD"
    M.untagged_responses.clear()
    return typ, list(M.lines)


def tagged(lines):
    """The last line, without its tag."""
    return lines[-1].split(b" ", 1)[1] if lines else b""


def untagged(lines, word):
    """Untagged lines that contain `word` as their response name."""
    out = []
    for l in lines:
        parts = l.split(b" ")
        if l.startswith(b"* ") and word.encode() in parts[1:3]:
            out.append(l)
    return out


def code_of(line, name):
    m = re.search(rb"\[" + name.encode() + rb"( [^\]]*)?\]", line)
    return m and (m.group(1) or b"").strip()


def msg(subject, body="hello\r\n", extra=""):
    return (
        "From: Alice <alice@example.org>\r\nTo: joe@example.com\r\n"
        "Subject: %s\r\nDate: Tue, 05 Mar 2024 09:15:00 +0100\r\n"
        "Message-ID: <%s@example.org>\r\n%s\r\n%s" % (subject, subject.replace(" ", "."), extra, body)
    ).encode()


class Session:
    """The walk-through, one check per method, in order."""

    def __init__(self, args):
        self.a = args
        self.passed = 0
        self.failed = 0

    def cli(self, *argv, stdin=b""):
        p = subprocess.run(
            [self.a.msgstore, "--store", self.a.store] + list(argv),
            input=stdin,
            capture_output=True,
            timeout=60,
            env={"MSGSTORE_LOCK_TIMEOUT": "10", "PATH": "/usr/bin:/bin"},
        )
        check(p.returncode == 0, "msgstore %s: %s%s" % (argv, p.stdout, p.stderr))
        return p.stdout.decode()

    def connect(self):
        if self.a.mode == "stdio":
            M = Stream("%s --store %s serve --stdio --user joe" % (self.a.msgstore, self.a.store))
            check(M.state == "AUTH", "stdio greeting is not PREAUTH")
            return M
        M = Tcp(self.a.port)
        M.login("joe", self.a.password)
        return M

    def go(self, name, f):
        try:
            f()
            self.passed += 1
            print("ok", name, flush=True)
        except Exception as e:  # a check, an imaplib error, a timeout: all fail it
            self.failed += 1
            why = str(e) if isinstance(e, Failed) else traceback.format_exc()
            print("FAIL %s: %s" % (name, why), flush=True)

    # ------------------------------------------------------------ before login

    def greeting_and_capabilities(self):
        M = Tcp(self.a.port)
        g = M.welcome
        check(g.startswith(b"* OK [CAPABILITY IMAP4rev1 "), g)
        for c in (b"STARTTLS", b"AUTH=PLAIN", b"SASL-IR", b"ID", b"ENABLE", b"LITERAL+"):
            check(c in g.split(b"]")[0].split(), "%s not in the greeting" % c)
        check(b"LOGINDISABLED" not in g, "LOGINDISABLED on loopback")
        typ, _, lines = run(M, "CAPABILITY")
        check(typ == "OK" and untagged(lines, "CAPABILITY"), text(lines))
        typ, _, lines = run(M, "NOOP")
        check(typ == "OK", text(lines))
        typ, _, lines = run(M, "ID", '("name" "imaplib-test" "version" "3")')
        ids = untagged(lines, "ID")
        check(typ == "OK" and ids and b'"name" "msgstore"' in ids[0], text(lines))
        typ, _, lines = run(M, "SELECT", "INBOX")
        check(typ == "BAD", "SELECT before login: " + text(lines))
        M.logout()

    def login_wrong_password(self):
        M = Tcp(self.a.port)
        t0 = time.monotonic()
        typ, _, lines = run(M, "LOGIN", "joe", "wrong")
        check(typ == "NO" and b"[AUTHENTICATIONFAILED]" in lines[-1], text(lines))
        check(time.monotonic() - t0 >= 1.5, "a failed login is answered slowly")
        typ, _, lines = run(M, "LOGIN", "ann", M._quote(self.a.password))
        check(typ == "NO", "ann has no password: " + text(lines))
        M.logout()

    def login_gives_capabilities(self):
        M = Tcp(self.a.port)
        M.lines = []
        typ, _ = M.login("joe", self.a.password)
        caps = code_of(M.lines[-1], "CAPABILITY") or b""
        for c in (b"NAMESPACE", b"UIDPLUS", b"UNSELECT", b"CHILDREN", b"IDLE", b"MOVE",
                  b"SPECIAL-USE", b"CREATE-SPECIAL-USE", b"LIST-EXTENDED", b"LIST-STATUS",
                  b"ESEARCH", b"SEARCHRES", b"CONDSTORE", b"QRESYNC"):
            check(c in caps.split(), "%s not in LOGIN's CAPABILITY code: %s" % (c, caps))
        check(b"AUTH=PLAIN" not in caps.split(), "AUTH= after login")
        typ, _, lines = run(M, "LOGIN", "joe", M._quote(self.a.password))
        check(typ == "BAD", "a second LOGIN: " + text(lines))
        M.logout()

    def starttls(self):
        M = Tcp(self.a.port)
        ctx = ssl.create_default_context(cafile=self.a.cafile)
        typ, _ = M.starttls(ssl_context=ctx)
        check(typ == "OK", "STARTTLS")
        check(isinstance(M.sock, ssl.SSLSocket), "not TLS after STARTTLS")
        typ, _, lines = run(M, "CAPABILITY")
        caps = untagged(lines, "CAPABILITY")[0].split()
        check(b"STARTTLS" not in caps and b"AUTH=PLAIN" in caps, text(lines))
        typ, _, lines = run(M, "STARTTLS")
        check(typ == "BAD", "a second STARTTLS: " + text(lines))
        M.login("joe", self.a.password)
        typ, _ = M.select("INBOX")
        check(typ == "OK", "SELECT over TLS")
        M.logout()

    def authenticate_plain(self):
        # Without SASL-IR: the server sends `+ ` and imaplib answers.
        M = Tcp(self.a.port)
        M.authenticate("PLAIN", lambda _: b"\0joe\0" + self.a.password.encode())
        check(M.state == "AUTH", "AUTHENTICATE PLAIN")
        M.logout()
        # With SASL-IR (RFC 4959): the response on the command line.
        M = Tcp(self.a.port)
        ir = base64.b64encode(b"\0joe\0" + self.a.password.encode()).decode()
        typ, _, lines = run(M, "AUTHENTICATE", "PLAIN", ir)
        check(typ == "OK" and b"[CAPABILITY " in lines[-1], text(lines))
        M.state = "AUTH"
        typ, _ = M.select("INBOX")
        check(typ == "OK", "SELECT after SASL-IR")
        M.logout()
        # An authzid that is not the user, an unknown mechanism, a cancel.
        M = Tcp(self.a.port)
        ir = base64.b64encode(b"ann\0joe\0" + self.a.password.encode()).decode()
        typ, _, lines = run(M, "AUTHENTICATE", "PLAIN", ir)
        check(typ == "NO", "authzid ann for joe: " + text(lines))
        typ, _, lines = run(M, "AUTHENTICATE", "CRAM-MD5")
        check(typ == "NO", "CRAM-MD5: " + text(lines))
        tag = M._new_tag()
        M.send(tag + b" AUTHENTICATE PLAIN\r\n")
        check(M.readline().startswith(b"+"), "no continuation")
        M.send(b"*\r\n")
        check(M.readline().startswith(tag + b" BAD"), "cancel is BAD")
        M.logout()

    # ------------------------------------------------------------ authenticated

    def namespace_id_enable(self):
        M = self.connect()
        typ, _, lines = run(M, "NAMESPACE")
        check(
            untagged(lines, "NAMESPACE")
            == [b'* NAMESPACE (("" "/")) (("Other Users/" "/")) (("Public Folders/" "/"))'],
            text(lines),
        )
        typ, _, lines = run(M, "ID", "NIL")
        check(typ == "OK" and untagged(lines, "ID"), text(lines))
        typ, _, lines = run(M, "ENABLE", "CONDSTORE", "X-NOTHING")
        check(untagged(lines, "ENABLED") == [b"* ENABLED CONDSTORE"], text(lines))
        typ, _, lines = run(M, "ENABLE", "CONDSTORE")
        check(untagged(lines, "ENABLED") == [b"* ENABLED"], "already on: " + text(lines))
        typ, lines = raw(M, b"FROBNICATE")
        check(typ == "BAD", text(lines))
        M.logout()

    def mailboxes(self):
        M = self.connect()
        for name in ("Work/Sub", "Drafts", "&AOQ-pfel"):
            typ, _, lines = run(M, "CREATE", name)
            check(typ == "OK", "CREATE %s: %s" % (name, text(lines)))
        typ, _, lines = run(M, "CREATE", "Drafts")
        check(typ == "NO" and b"[ALREADYEXISTS]" in lines[-1], text(lines))
        typ, _, lines = run(M, "CREATE", "INBOX/child")
        check(typ == "NO", "INBOX has no children: " + text(lines))
        typ, _, lines = run(M, "LIST", '""', '"*"')
        got = {l.rsplit(b" ", 1)[1]: l for l in untagged(lines, "LIST")}
        for n in (b"INBOX", b"Work", b"Work/Sub", b"Drafts", b"&AOQ-pfel"):
            check(n in got, "%s not listed: %s" % (n, text(lines)))
        check(b"\\HasChildren" in got[b"Work"], text(lines))
        check(b"\\HasNoChildren" in got[b"Work/Sub"], text(lines))
        check(b"\\Drafts" in got[b"Drafts"], "Drafts by name: " + text(lines))
        check(not any(b"Other Users" in k or b"ann" in k for k in got), "ann's names show")
        typ, _, lines = run(M, "LIST", '""', '"%"')
        check(b"Work/Sub" not in text(lines).encode(), "%% went below: " + text(lines))
        typ, _, lines = run(M, "LIST", '""', '""')
        check(untagged(lines, "LIST") == [b'* LIST (\\Noselect) "/" ""'], text(lines))
        typ, _, lines = run(M, "LIST", '"Work/"', '"%"')
        check([l.rsplit(b" ", 1)[1] for l in untagged(lines, "LIST")] == [b"Work/Sub"], text(lines))
        # SUBSCRIBE, LSUB, LIST-EXTENDED.
        for n in ("Work/Sub", "Drafts"):
            check(run(M, "SUBSCRIBE", n)[0] == "OK", "SUBSCRIBE " + n)
        typ, _, lines = run(M, "LSUB", '""', '"*"')
        check(sorted(l.rsplit(b" ", 1)[1] for l in untagged(lines, "LSUB")) == [b"Drafts", b"Work/Sub"],
              text(lines))
        typ, _, lines = run(M, "LSUB", '""', '"%"')
        subs = {l.rsplit(b" ", 1)[1]: l for l in untagged(lines, "LSUB")}
        check(set(subs) == {b"Drafts", b"Work"} and b"\\Noselect" in subs[b"Work"], text(lines))
        typ, _, lines = run(M, "LIST", "(SUBSCRIBED)", '""', '"*"')
        check(sorted(l.rsplit(b" ", 1)[1] for l in untagged(lines, "LIST")) == [b"Drafts", b"Work/Sub"]
              and all(b"\\Subscribed" in l for l in untagged(lines, "LIST")), text(lines))
        typ, _, lines = run(M, "LIST", "(SUBSCRIBED RECURSIVEMATCH)", '""', '"%"')
        work = [l for l in untagged(lines, "LIST") if b'"/" Work ' in l]
        check(work and b"CHILDINFO" in work[0] and b"SUBSCRIBED" in work[0], text(lines))
        typ, _, lines = run(M, "LIST", '""', '("INBOX" "Work/*")', "RETURN", "(CHILDREN SUBSCRIBED)")
        names = sorted(l.split(b'"/" ')[1] for l in untagged(lines, "LIST"))
        check(names == [b"INBOX", b"Work/Sub"], text(lines))
        check(run(M, "UNSUBSCRIBE", "Drafts")[0] == "OK", "UNSUBSCRIBE")
        typ, _, lines = run(M, "LSUB", '""', '"*"')
        check([l.rsplit(b" ", 1)[1] for l in untagged(lines, "LSUB")] == [b"Work/Sub"], text(lines))
        typ, _, lines = run(M, "SUBSCRIBE", "Nope")
        check(typ == "NO", "SUBSCRIBE to nothing: " + text(lines))
        # RENAME and DELETE.
        typ, _, lines = run(M, "RENAME", "Work/Sub", "Work/Done")
        check(typ == "OK", text(lines))
        typ, _, lines = run(M, "RENAME", "Nope", "Other")
        check(typ == "NO" and b"[NONEXISTENT]" in lines[-1], text(lines))
        typ, _, lines = run(M, "RENAME", "Drafts", "Work/Done")
        check(typ == "NO" and b"[ALREADYEXISTS]" in lines[-1], text(lines))
        check(run(M, "DELETE", "Work/Done")[0] == "OK", "DELETE")
        typ, _, lines = run(M, "DELETE", "INBOX")
        check(typ == "NO", "DELETE INBOX: " + text(lines))
        typ, _, lines = run(M, "DELETE", "Nope")
        check(typ == "NO" and b"[NONEXISTENT]" in lines[-1], text(lines))
        typ, _, lines = run(M, "LIST", '""', '"Work*"')
        check([l.rsplit(b" ", 1)[1] for l in untagged(lines, "LIST")] == [b"Work"], text(lines))
        M.logout()

    def special_use(self):
        M = self.connect()
        typ, _, lines = run(M, "CREATE", '"Sent Mail"', "(USE (\\Sent))")
        check(typ == "OK", text(lines))
        typ, _, lines = run(M, "CREATE", "Bogus", "(USE (\\Bogus))")
        check(typ == "NO" and b"[USEATTR]" in lines[-1], text(lines))
        typ, _, lines = run(M, "LIST", "(SPECIAL-USE)", '""', '"*"')
        got = {l.split(b'"/" ')[1]: l for l in untagged(lines, "LIST")}
        check(b'"Sent Mail"' in got and b"\\Sent" in got[b'"Sent Mail"'], text(lines))
        check(b"Drafts" in got and b"INBOX" not in got, text(lines))
        typ, _, lines = run(M, "LIST", '""', '"Sent*"', "RETURN", "(SPECIAL-USE)")
        check(any(b"\\Sent" in l for l in untagged(lines, "LIST")), text(lines))
        M.logout()

    def append_status_list_status(self):
        M = self.connect()
        M.lines = []
        m = msg("first message")
        typ, data = M.append("INBOX", "(\\Seen $Forwarded)", '"05-Mar-2024 09:15:00 +0100"', m)
        uv_uid = code_of(M.lines[-1], "APPENDUID")
        check(typ == "OK" and uv_uid and uv_uid.split()[1] == b"1", text(M.lines))
        self.uidvalidity = uv_uid.split()[0]
        # LITERAL+ (RFC 7888): no continuation is waited for.
        typ, lines = raw(M, b"APPEND INBOX (\\Flagged)", msg("second message"))
        check(typ == "OK" and not any(l.startswith(b"+") for l in lines), text(lines))
        check(code_of(lines[-1], "APPENDUID") == self.uidvalidity + b" 2", text(lines))
        M.append("INBOX", None, None, msg("third message", body="third body\r\n"))
        typ, _, lines = run(M, "APPEND", "Nope", "{1+}\r\nx")
        check(typ == "NO" and b"[TRYCREATE]" in lines[-1], text(lines))
        typ, _, lines = run(M, "STATUS", "INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)")
        st = untagged(lines, "STATUS")
        check(st and b"MESSAGES 3" in st[0] and b"UIDNEXT 4" in st[0] and b"UNSEEN 2" in st[0]
              and b"UIDVALIDITY " + self.uidvalidity in st[0] and b"HIGHESTMODSEQ " in st[0], text(lines))
        typ, _, lines = run(M, "STATUS", "Nope", "(MESSAGES)")
        check(typ == "NO" and b"[NONEXISTENT]" in lines[-1], text(lines))
        typ, _, lines = run(M, "LIST", '""', '"*"', "RETURN", "(STATUS (MESSAGES UNSEEN))")
        # RFC 5819: each STATUS right after its LIST.
        for i, l in enumerate(lines):
            if l.startswith(b"* STATUS INBOX"):
                check(lines[i - 1].endswith(b" INBOX"), text(lines))
                check(b"MESSAGES 3" in l and b"UNSEEN 2" in l, text(lines))
                break
        else:
            raise Failed("no STATUS for INBOX: " + text(lines))
        M.logout()

    def select_fetch(self):
        M = self.connect()
        M.lines = []
        typ, data = M.select("INBOX")
        lines = M.lines
        check(typ == "OK" and data == [b"3"], text(lines))
        for want in (b"* FLAGS (", b"* OK [PERMANENTFLAGS (", b"* 3 EXISTS", b"* OK [UIDVALIDITY ",
                     b"* OK [UIDNEXT 4]", b"* OK [HIGHESTMODSEQ ", b"* OK [UNSEEN 2]"):
            check(any(l.startswith(want) for l in lines), "%s missing: %s" % (want, text(lines)))
        check(b"[READ-WRITE]" in lines[-1], text(lines))
        check(any(re.match(rb"\* \d+ RECENT", l) for l in lines), "no RECENT")
        typ, data, lines = run(M, "FETCH", "1:*", "(UID FLAGS RFC822.SIZE INTERNALDATE)")
        f = untagged(lines, "FETCH")
        check(len(f) == 3, text(lines))
        m = msg("first message")
        check(b"UID 1" in f[0] and b"RFC822.SIZE %d" % len(m) in f[0]
              and b'INTERNALDATE " 5-Mar-2024 09:15:00 +0100"' in f[0]
              and b"\\Seen" in f[0] and b"$Forwarded" in f[0], f[0])
        typ, data, lines = run(M, "FETCH", "1", "(ENVELOPE BODYSTRUCTURE BODY)")
        check(b'"first message"' in lines[0] and b'(("Alice" NIL "alice" "example.org"))' in lines[0]
              and b'BODYSTRUCTURE ("text" "plain"' in lines[0], text(lines))
        typ, data = M.fetch("1", "(BODY.PEEK[])")
        check(data[0][1] == m, "BODY[] is not the APPENDed message: %r" % (data[0],))
        typ, data = M.fetch("1", "(BODY.PEEK[HEADER] BODY.PEEK[TEXT] BODY.PEEK[]<0.10>)")
        got = [d for d in data if isinstance(d, tuple)]
        head, body = m.split(b"\r\n\r\n", 1)
        check(got[0][1] == head + b"\r\n\r\n" and got[1][1] == body and got[2][1] == m[:10],
              "sections: %r" % (got,))
        typ, data = M.fetch("3", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[1])")
        got = [d for d in data if isinstance(d, tuple)]
        check(got[0][1] == b"Subject: third message\r\n\r\n" and got[1][1] == b"third body\r\n",
              "header fields and part 1: %r" % (got,))
        # BODY[] sets \Seen and says so; PEEK did not.
        typ, data, lines = run(M, "FETCH", "3", "(FLAGS)")
        check(b"\\Seen" not in lines[0], "PEEK set \\Seen: " + text(lines))
        typ, data = M.fetch("3", "(BODY[TEXT])")
        check(b"\\Seen" in data[0][0] + b"".join(d for d in data[1:] if isinstance(d, bytes)),
              "BODY[] shows the new flag: %r" % (data,))
        typ, data, lines = run(M, "FETCH", "1", "FAST")
        check(b"FLAGS" in lines[0] and b"INTERNALDATE" in lines[0] and b"RFC822.SIZE" in lines[0], text(lines))
        typ, data, lines = run(M, "FETCH", "9", "FLAGS")
        check(typ == "BAD", "message 9 of 3: " + text(lines))
        M.lines = []
        M.uid("FETCH", "2:*", "(FLAGS)")
        check(len(untagged(M.lines, "FETCH")) == 2 and b"UID 2" in M.lines[0], text(M.lines))
        M.logout()

    def search(self):
        M = self.connect()
        M.select("INBOX")
        cases = [
            (("ALL",), b"1 2 3"),
            (("SEEN",), b"1 3"),
            (("UNSEEN",), b"2"),
            (("FLAGGED",), b"2"),
            (("KEYWORD", "$Forwarded"), b"1"),
            (("SUBJECT", '"second"'), b"2"),
            (("FROM", "alice"), b"1 2 3"),
            (("BODY", "third"), b"3"),
            (("TEXT", "first"), b"1"),
            (("HEADER", "Message-ID", "third"), b"3"),
            (("OR", "FLAGGED", "KEYWORD", "$Forwarded"), b"1 2"),
            (("NOT", "SEEN"), b"2"),
            (("2:3", "UNFLAGGED"), b"3"),
            (("UID", "2:*"), b"2 3"),
            (("LARGER", "100000"), b""),
            (("SENTON", "5-Mar-2024"), b"1 2 3"),
            (("BEFORE", "6-Mar-2024"), b"1"),
        ]
        for crit, want in cases:
            typ, data, lines = run(M, "SEARCH", *crit)
            check(untagged(lines, "SEARCH") == [(b"* SEARCH " + want).rstrip()],
                  "SEARCH %s: %s" % (" ".join(crit), text(lines)))
        typ, data = M.search("UTF-8", "SUBJECT", "message")
        check(data == [b"1 2 3"], "CHARSET UTF-8: %r" % data)
        typ, data, lines = run(M, "SEARCH", "CHARSET", "KOI8-R", "ALL")
        check(typ == "NO" and b"[BADCHARSET" in lines[-1], text(lines))
        typ, data = M.uid("SEARCH", "UNSEEN")
        check(data == [b"2"], "UID SEARCH: %r" % data)
        # ESEARCH (RFC 4731): the correlator is the command's tag.
        typ, lines = raw(M, b"SEARCH RETURN (MIN MAX COUNT ALL) ALL")
        tag = lines[-1].split(b" ")[0]
        check(untagged(lines, "ESEARCH") == [b'* ESEARCH (TAG "%s") MIN 1 MAX 3 COUNT 3 ALL 1:3' % tag],
              text(lines))
        typ, lines = raw(M, b"UID SEARCH RETURN () SEEN")
        check(untagged(lines, "ESEARCH")[0].endswith(b" UID ALL 1,3"), text(lines))
        typ, lines = raw(M, b"SEARCH RETURN (COUNT) LARGER 100000")
        check(untagged(lines, "ESEARCH")[0].endswith(b" COUNT 0"), text(lines))
        # SEARCHRES (RFC 5182).
        typ, lines = raw(M, b"SEARCH RETURN (SAVE) SEEN")
        check(typ == "OK" and not untagged(lines, "ESEARCH"), "SAVE alone answers nothing: " + text(lines))
        typ, data, lines = run(M, "FETCH", "$", "(UID)")
        check([l.split(b" ")[1] for l in untagged(lines, "FETCH")] == [b"1", b"3"], text(lines))
        typ, lines = raw(M, b"UID STORE $ +FLAGS (Saved)")
        check(len(untagged(lines, "FETCH")) == 2, text(lines))
        typ, lines = raw(M, b"SEARCH RETURN (SAVE MIN) ALL")
        typ, data, lines = run(M, "SEARCH", "$")
        check(untagged(lines, "SEARCH") == [b"* SEARCH 1"], text(lines))
        M.logout()

    def store_copy_move_expunge(self):
        M = self.connect()
        M.select("INBOX")
        typ, data, lines = run(M, "STORE", "2", "+FLAGS", "(\\Answered NewKw)")
        fl = [l for l in lines if l.startswith(b"* FLAGS")]
        check(fl and b"NewKw" in fl[0], "FLAGS names the new keyword: " + text(lines))
        check(lines.index(fl[0]) < lines.index(untagged(lines, "FETCH")[0]), "FLAGS before FETCH")
        typ, data, lines = run(M, "STORE", "2", "-FLAGS", "(NewKw)")
        check(untagged(lines, "FETCH") and b"NewKw" not in untagged(lines, "FETCH")[0], text(lines))
        typ, data, lines = run(M, "STORE", "2", "FLAGS.SILENT", "(\\Flagged \\Answered)")
        check(not untagged(lines, "FETCH"), ".SILENT: " + text(lines))
        typ, data, lines = run(M, "STORE", "2", "+FLAGS", "(\\Bogus)")
        check(typ == "BAD", text(lines))
        # COPY and MOVE (UIDPLUS COPYUID, RFC 6851 MOVE).
        typ, data, lines = run(M, "COPY", "1:2", "Drafts")
        cu = code_of(lines[-1], "COPYUID")
        check(typ == "OK" and cu and cu.split()[1:] == [b"1:2", b"1:2"], text(lines))
        typ, data = M.uid("COPY", "3", "Drafts")
        check(typ == "OK" and code_of(M.lines[-1], "COPYUID").split()[1:] == [b"3", b"3"], text(M.lines))
        typ, data, lines = run(M, "COPY", "1", "Nope")
        check(typ == "NO" and b"[TRYCREATE]" in lines[-1], text(lines))
        typ, data, lines = run(M, "MOVE", "3", "Drafts")
        mv = [l for l in lines if b"[COPYUID" in l]
        check(typ == "OK" and mv and mv[0].startswith(b"* OK") and untagged(lines, "EXPUNGE") == [b"* 3 EXPUNGE"],
              text(lines))
        typ, data, lines = run(M, "MOVE", "1", "INBOX")
        check(typ == "NO", "MOVE to itself: " + text(lines))
        # EXPUNGE; UID EXPUNGE only among the given UIDs.
        M.store("1:2", "+FLAGS", "(\\Deleted)")
        typ, data = M.uid("EXPUNGE", "2")
        check(typ == "OK" and untagged(M.lines, "EXPUNGE") == [b"* 2 EXPUNGE"], text(M.lines))
        M.lines = []
        typ, data = M.expunge()
        check(typ == "OK" and untagged(M.lines, "EXPUNGE") == [b"* 1 EXPUNGE"], text(M.lines))
        typ, data, lines = run(M, "CHECK")
        check(typ == "OK", text(lines))
        # Drafts got 1:2 by COPY, 3 by UID COPY, 4 by MOVE.
        typ, data, lines = run(M, "STATUS", "Drafts", "(MESSAGES UIDNEXT)")
        check(b"MESSAGES 4" in lines[0] and b"UIDNEXT 5" in lines[0], text(lines))
        M.logout()

    def close_unselect_examine(self):
        M = self.connect()
        M.select("Drafts")
        M.store("1", "+FLAGS", "(\\Deleted)")
        M.lines = []
        typ, data = M.unselect()
        check(typ == "OK" and not untagged(M.lines, "EXPUNGE"), text(M.lines))
        typ, data, lines = run(M, "FETCH", "1", "FLAGS")
        check(typ == "BAD", "FETCH with nothing selected: " + text(lines))
        M.lines = []
        typ, data = M.select("Drafts", readonly=True)
        check(b"[READ-ONLY]" in M.lines[-1] and data == [b"4"], text(M.lines))
        typ, data, lines = run(M, "STORE", "2", "+FLAGS", "(\\Seen)")
        check(typ == "NO" and b"[READ-ONLY]" in lines[-1], text(lines))
        # Reading a body read-only sets no \Seen (RFC 3501 6.4.5).
        typ, data = M.fetch("2", "(BODY[])")
        typ, data, lines = run(M, "FETCH", "2", "(FLAGS)")
        check(b"\\Seen" not in lines[0], "BODY[] after EXAMINE set \\Seen: " + text(lines))
        M.lines = []
        typ, data = M.close()
        check(typ == "OK", text(M.lines))
        typ, data, lines = run(M, "STATUS", "Drafts", "(MESSAGES)")
        check(b"MESSAGES 4" in lines[0], "CLOSE after EXAMINE expunged: " + text(lines))
        M.select("Drafts")
        M.lines = []
        typ, data = M.close()
        check(typ == "OK" and not untagged(M.lines, "EXPUNGE"), "CLOSE is silent: " + text(M.lines))
        typ, data, lines = run(M, "STATUS", "Drafts", "(MESSAGES)")
        check(b"MESSAGES 3" in lines[0], "CLOSE expunged \\Deleted: " + text(lines))
        M.logout()

    def condstore(self):
        M = self.connect()
        M.select("Drafts")
        typ, data, lines = run(M, "FETCH", "1:*", "(UID MODSEQ)")
        check(lines[0].startswith(b"* OK [HIGHESTMODSEQ "), "FETCH MODSEQ enables CONDSTORE: " + text(lines))
        mods = {}
        for l in untagged(lines, "FETCH"):
            n = int(l.split()[1])
            mods[n] = int(re.search(rb"MODSEQ \((\d+)\)", l).group(1))
        check(len(mods) == 3, text(lines))
        high = max(mods.values())
        typ, data, lines = run(M, "STORE", "1", "(UNCHANGEDSINCE %d)" % high, "+FLAGS", "(CondKw)")
        f = untagged(lines, "FETCH")
        check(typ == "OK" and f and b"UID " in f[0] and b"MODSEQ (" in f[0], text(lines))
        new = int(re.search(rb"MODSEQ \((\d+)\)", f[0]).group(1))
        check(new > high, "MODSEQ went up: %d %d" % (new, high))
        typ, data, lines = run(M, "STORE", "1:2", "(UNCHANGEDSINCE %d)" % high, "+FLAGS", "(\\Answered)")
        check(typ == "OK" and code_of(lines[-1], "MODIFIED") == b"1", "MODIFIED 1: " + text(lines))
        check(any(l.startswith(b"* 2 FETCH") for l in lines), "message 2 stored: " + text(lines))
        typ, data, lines = run(M, "FETCH", "1:*", "(FLAGS)", "(CHANGEDSINCE %d)" % high)
        check(sorted(l.split()[1] for l in untagged(lines, "FETCH")) == [b"1", b"2"], text(lines))
        typ, data, lines = run(M, "SEARCH", "MODSEQ", str(high + 1))
        s = untagged(lines, "SEARCH")
        check(s and re.match(rb"\* SEARCH 1 2 \(MODSEQ \d+\)$", s[0]), text(lines))
        typ, lines = raw(M, b"UID SEARCH RETURN (ALL) MODSEQ %d" % (high + 1))
        check(re.search(rb" UID ALL \d+:\d+ MODSEQ \d+$", untagged(lines, "ESEARCH")[0]), text(lines))
        typ, data, lines = run(M, "STATUS", "INBOX", "(HIGHESTMODSEQ)")
        check(b"HIGHESTMODSEQ " in lines[0], text(lines))
        self.drafts_modseq = max(mods.values())
        M.logout()

    def qresync(self):
        M = self.connect()
        typ, data, lines = run(M, "SELECT", "Drafts", "(QRESYNC (1 1))")
        check(typ == "BAD", "QRESYNC before ENABLE: " + text(lines))
        run(M, "ENABLE", "QRESYNC")
        M.lines = []
        M.select("Drafts")
        uv = code_of([l for l in M.lines if b"UIDVALIDITY" in l][0], "UIDVALIDITY")
        hms = int(code_of([l for l in M.lines if b"HIGHESTMODSEQ" in l][0], "HIGHESTMODSEQ"))
        # Changes a QRESYNC client will resynchronise: a flag, an expunge.
        M.store("1", "+FLAGS", "(\\Seen)")
        M.lines = []
        M.fetch("2", "(UID)")
        gone = re.search(rb"UID (\d+)", M.lines[0]).group(1)
        M.store("2", "+FLAGS", "(\\Deleted)")
        M.lines = []
        M.expunge()
        check(untagged(M.lines, "VANISHED") and not untagged(M.lines, "EXPUNGE"),
              "QRESYNC gets VANISHED: " + text(M.lines))
        check(code_of(M.lines[-1], "HIGHESTMODSEQ"), "EXPUNGE's OK has HIGHESTMODSEQ: " + text(M.lines))
        typ, lines = raw(M, b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % hms)
        v = untagged(lines, "VANISHED")
        check(v and v[0].startswith(b"* VANISHED (EARLIER) ") and gone in v[0], text(lines))
        M.unselect()
        typ, lines = raw(M, b"SELECT Drafts (QRESYNC (%s %d))" % (uv, hms))
        v = untagged(lines, "VANISHED")
        check(typ == "OK" and v and v[0].startswith(b"* VANISHED (EARLIER)"), text(lines))
        check(any(re.match(rb"\* 1 FETCH \(UID \d+ FLAGS \(", l) and b"\\Seen" in l for l in lines), text(lines))
        typ, lines = raw(M, b"SELECT Drafts (QRESYNC (%d %d))" % (int(uv) + 1, hms))
        check(typ == "OK" and not untagged(lines, "VANISHED") and lines[0].startswith(b"* OK [CLOSED]"),
              "a wrong UIDVALIDITY gets a plain SELECT: " + text(lines))
        M.logout()

    def idle_sees_a_cli_delivery(self):
        M = self.connect()
        M.select("INBOX")
        tag = M._new_tag()
        q = queue.Queue()

        def reader():
            try:
                while True:
                    q.put(M.readline())
            except Exception as e:
                q.put(e)

        threading.Thread(target=reader, daemon=True).start()
        try:
            self.idle(M, tag, q)
        finally:
            # The reader thread owns the connection: end it under the thread.
            if isinstance(M, Stream):
                M.process.kill()
                M.process.wait(timeout=TIMEOUT)
            else:
                M.sock.shutdown(socket.SHUT_RDWR)
                M.sock.close()

    def idle(self, M, tag, q):
        M.send(tag + b" IDLE\r\n")
        first = q.get(timeout=TIMEOUT)
        check(isinstance(first, bytes) and first.startswith(b"+ "), "no continuation for IDLE: %r" % first)
        self.cli("deliver", "joe", stdin=msg("delivered while idle"))
        t0 = time.monotonic()
        got = None
        while time.monotonic() - t0 < 5:
            try:
                line = q.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(line, Exception):
                raise line
            if line.endswith(b" EXISTS\r\n"):
                got = time.monotonic() - t0
                break
        check(got is not None, "no EXISTS within 5 s")
        check(got <= 1.0, "EXISTS after %.2f s, more than 1 s" % got)
        M.send(b"DONE\r\n")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            line = q.get(timeout=10)
            if isinstance(line, Exception):
                raise line
            if line.startswith(tag + b" "):
                check(line.startswith(tag + b" OK"), line)
                break
        print("   (EXISTS %.2f s after the delivery)" % got, flush=True)

    def a_second_session_sees_changes(self):
        A = self.connect()
        B = self.connect()
        A.select("INBOX")
        B.lines = []
        B.select("INBOX")
        n = int(untagged(B.lines, "EXISTS")[0].split()[1])
        A.store("1", "+FLAGS", "(\\Flagged)")
        typ, data, lines = run(B, "NOOP")
        check(any(l.startswith(b"* 1 FETCH (") and b"\\Flagged" in l for l in lines), text(lines))
        A.append("INBOX", None, None, msg("from session A"))
        typ, data, lines = run(B, "NOOP")
        check(b"* %d EXISTS" % (n + 1) in lines, text(lines))
        A.store("1", "+FLAGS", "(\\Deleted)")
        A.expunge()
        typ, data, lines = run(B, "NOOP")
        check(b"* 1 EXPUNGE" in lines, text(lines))
        # No EXPUNGE during FETCH by number (RFC 3501 7.4.1), then at the next NOOP.
        A.store("1", "+FLAGS", "(\\Deleted)")
        A.expunge()
        typ, data, lines = run(B, "FETCH", "1", "(FLAGS)")
        check(not untagged(lines, "EXPUNGE"), "EXPUNGE during FETCH: " + text(lines))
        typ, data, lines = run(B, "NOOP")
        check(b"* 1 EXPUNGE" in lines, text(lines))
        A.logout()
        B.logout()

    def cli_writers_while_selected(self):
        self.cli("deliver", "joe", stdin=msg("for the CLI to change"))
        M = self.connect()
        M.lines = []
        M.select("INBOX")
        n = int(untagged(M.lines, "EXISTS")[0].split()[1])
        typ, data = M.uid("FETCH", "1:*", "(UID)")
        uids = [int(re.search(rb"UID (\d+)", l).group(1)) for l in untagged(M.lines, "FETCH")]
        first = uids[0]
        self.cli("flags", "joe", str(first), "--add", "\\Answered", "--add", "cliflag")
        typ, data, lines = run(M, "NOOP")
        f = [l for l in untagged(lines, "FETCH") if l.startswith(b"* 1 FETCH")]
        check(f and b"\\Answered" in f[0] and b"cliflag" in f[0], "CLI flags: " + text(lines))
        check(any(l.startswith(b"* FLAGS") and b"cliflag" in l for l in lines), "new keyword announced")
        self.cli("deliver", "joe", stdin=msg("delivered by the CLI"))
        typ, data, lines = run(M, "NOOP")
        check(b"* %d EXISTS" % (n + 1) in lines, "CLI deliver: " + text(lines))
        self.cli("expunge", "joe", str(first))
        typ, data, lines = run(M, "NOOP")
        check(b"* 1 EXPUNGE" in lines, "CLI expunge: " + text(lines))
        M.logout()

    def another_users_mailbox_is_a_nonexistent_one(self):
        M = self.connect()

        def answers(name, every=True):
            out = []
            q = '"%s"' % name
            cmds = [("SELECT", q), ("EXAMINE", q), ("STATUS", q, "(MESSAGES)"), ("DELETE", q),
                    ("RENAME", q, "Elsewhere"), ("APPEND", q, "{1+}\r\nx")]
            if every:
                # Names of one's own that do not exist may be created or unsubscribed.
                cmds += [("SUBSCRIBE", q), ("UNSUBSCRIBE", q), ("CREATE", '"%s/new"' % name),
                         ("LIST", '""', q), ("LIST", q, '"*"'), ("LSUB", '""', q)]
            for c in cmds:
                typ, data, lines = run(M, *c)
                out.append((c[0], typ, [l.split(b" ", 1)[1] for l in lines]))
            M.select("INBOX")
            for c in (("COPY", "1", q), ("MOVE", "1", q)):
                typ, data, lines = run(M, *c)
                out.append((c[0], typ, [l.split(b" ", 1)[1] for l in lines]))
            M.unselect()
            return out

        nobody = answers("Other Users/nobody")
        for name in ("Other Users/ann", "Other Users/ann/Private", "Other Users/ann/", "Other Users/joe",
                     "Other Users/ann/INBOX", "Other Users/ann/../ann", "../ann",
                     "Public Folders/../Other Users/ann"):
            got = answers(name)
            check(got == nobody, "%s answers unlike a nonexistent other user's:\n%r\n%r" % (name, got, nobody))
        # And as one's own folder that does not exist.
        check(answers("Other Users/ann", every=False) == answers("NoSuchFolder", every=False),
              "ann's INBOX answers unlike a missing folder of joe's")
        typ, data, lines = run(M, "LIST", '""', '"*"')
        check(not any(b"ann" in l or b"Private" in l for l in lines), text(lines))
        typ, data, lines = run(M, "LIST", '"Other Users/"', '"*"')
        check(not untagged(lines, "LIST"), text(lines))
        M.logout()
        # ann's mailboxes are untouched.
        out = self.cli("--json", "mailbox", "list", "ann")
        check("Private" in out and "Elsewhere" not in out, out)

    def rename_inbox_and_logout(self):
        M = self.connect()
        typ, data, lines = run(M, "STATUS", "INBOX", "(MESSAGES)")
        n = int(re.search(rb"MESSAGES (\d+)", lines[0]).group(1))
        typ, data, lines = run(M, "RENAME", "INBOX", "Old-Inbox")
        check(typ == "OK", text(lines))
        typ, data, lines = run(M, "STATUS", "Old-Inbox", "(MESSAGES)")
        check(b"MESSAGES %d" % n in lines[0], text(lines))
        typ, data, lines = run(M, "STATUS", "INBOX", "(MESSAGES)")
        check(b"MESSAGES 0" in lines[0], "INBOX is left empty: " + text(lines))
        M.lines = []
        typ, data = M.logout()
        check(typ == "BYE" and any(l.startswith(b"* BYE") for l in M.lines), text(M.lines))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--msgstore", required=True)
    p.add_argument("--store", required=True)
    sub = p.add_subparsers(dest="mode", required=True)
    t = sub.add_parser("tcp")
    t.add_argument("port", type=int)
    t.add_argument("password")
    t.add_argument("cafile")
    sub.add_parser("stdio")
    args = p.parse_args()
    socket.setdefaulttimeout(TIMEOUT)
    s = Session(args)
    login_only = [
        "greeting_and_capabilities",
        "login_wrong_password",
        "login_gives_capabilities",
        "starttls",
        "authenticate_plain",
    ]
    both = [
        "namespace_id_enable",
        "mailboxes",
        "special_use",
        "append_status_list_status",
        "select_fetch",
        "search",
        "store_copy_move_expunge",
        "close_unselect_examine",
        "condstore",
        "qresync",
        "idle_sees_a_cli_delivery",
        "a_second_session_sees_changes",
        "cli_writers_while_selected",
        "another_users_mailbox_is_a_nonexistent_one",
        "rename_inbox_and_logout",
    ]
    names = (login_only if args.mode == "tcp" else []) + both
    for n in names:
        s.go(n, getattr(s, n))
    print("RESULT passed=%d failed=%d" % (s.passed, s.failed), flush=True)
    sys.exit(1 if s.failed else 0)


if __name__ == "__main__":
    main()
