"""An imaplib session that has INBOX selected and is in IDLE while the mailbox's
index is deleted and rebuilt under it, and a message is delivered after.

    idle_repair.py MSGSTORE STORE

It must be brought up to date (it sees the new message, by EXISTS while idling or
at the NOOP after) and never see a UID that names other content than before.
Prints RESULT ok or RESULT failed: <why>; every wait is bounded."""
import imaplib
import os
import queue
import re
import subprocess
import sys
import threading
import time

BIN, STORE = sys.argv[1], sys.argv[2]
INDEX = os.path.join(STORE, "users", "joe", "msgstore.index")


def ids(m):
    """UID -> Message-ID local part, for every message in the selected mailbox."""
    typ, data = m.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    assert typ == "OK", (typ, data)
    out = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
        mid = re.search(rb"<([^@>]+)@", item[1])
        out[uid] = mid.group(1).decode() if mid else "?"
    return out


def msgstore(*args, stdin=b""):
    r = subprocess.run(
        [BIN, "--store", STORE, *args], input=stdin, capture_output=True, timeout=60
    )
    if r.returncode != 0:
        raise SystemExit(f"RESULT failed: msgstore {args}: {r.stderr.decode()}")
    return r.stdout.decode()


def main():
    m = imaplib.IMAP4_stream(f"{BIN} --store {STORE} serve --stdio --user joe")
    typ, _ = m.select("INBOX")
    assert typ == "OK"
    before = ids(m)
    flags_before = m.uid("FETCH", "1:*", "(UID FLAGS)")[1]

    tag = m._new_tag()
    m.send(tag + b" IDLE\r\n")
    cont = m.readline()
    if not cont.startswith(b"+"):
        print(f"RESULT failed: no IDLE continuation: {cont!r}")
        return
    # The repair, while the session idles.
    os.remove(INDEX)
    msgstore("reconstruct", "--wait", "-r", "joe")
    new_uid = int(
        msgstore(
            "deliver",
            "joe",
            stdin=b"From: a@example.org\r\nSubject: after\r\nMessage-ID: <after@sync.test>\r\n\r\nnew\r\n",
        ).strip()
    )
    # Untagged responses while idling, read by a thread so that every wait is
    # bounded; it stops at the tagged reply to IDLE (after DONE) or at EOF.
    lines = queue.Queue()

    def reader():
        while True:
            line = m.readline()
            lines.put(line)
            if not line or line.startswith(tag):
                return

    threading.Thread(target=reader, daemon=True).start()
    seen = []
    deadline = time.time() + 5
    exists = False
    while time.time() < deadline and len(seen) < 1000 and not exists:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.time()))
        except queue.Empty:
            break
        if not line:
            print("RESULT failed: connection closed in IDLE")
            return
        seen.append(line)
        if re.match(rb"\* \d+ EXISTS", line):
            exists = int(line.split()[1]) > len(before)
    m.send(b"DONE\r\n")
    for _ in range(1000):
        try:
            line = lines.get(timeout=20)
        except queue.Empty:
            print("RESULT failed: no reply to DONE")
            return
        if not line:
            print("RESULT failed: connection closed after DONE")
            return
        seen.append(line)
        if line.startswith(tag):
            break
    for line in seen:
        if line.startswith(b"* BYE"):
            print(f"RESULT failed: BYE although UIDVALIDITY stayed: {seen!r}")
            return
    typ, _ = m.noop()
    after = ids(m)
    wrong = {u: (before[u], after[u]) for u in before if u in after and before[u] != after[u]}
    if wrong:
        print(f"RESULT failed: UIDs name other content: {wrong}")
        return
    if after.get(new_uid) != "after":
        print(f"RESULT failed: the new message (UID {new_uid}) not seen: {after}")
        return
    if new_uid <= max(before):
        print(f"RESULT failed: new UID {new_uid} not above {max(before)}")
        return
    m.logout()
    print(f"idle lines: {seen!r}")
    print(f"flags before: {flags_before!r}")
    print("RESULT ok")


if __name__ == "__main__":
    main()
