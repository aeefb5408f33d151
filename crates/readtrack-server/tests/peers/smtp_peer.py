"""An SMTP server for the email tests: aiosmtpd (PyPI) on 127.0.0.1, writing every message
it accepts into a Maildir, and refusing for good (550) any recipient whose address starts
with "refused". Each message is also parsed by Python's own email package and written as a
line of MAILDIR/messages.jsonl (to, subject, the decoded text and HTML parts, headers), and
each refusal as {"refused": address}, so the tests read what a mail client would show.
Prints "ready <port>" once it listens; runs until stdin closes.

    python3 smtp_peer.py MAILDIR
"""

import email
import email.policy
import json
import mailbox
import os
import socket
import sys

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, maildir):
        self.box = mailbox.Maildir(maildir, create=True)
        self.log = os.path.join(maildir, "messages.jsonl")

    def write(self, record):
        with open(self.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("refused"):
            self.write({"refused": address})
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.box.add(envelope.original_content)
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        self.write({
            "to": envelope.rcpt_tos,
            "from": str(msg["From"]),
            "subject": str(msg["Subject"]),
            "auto_submitted": str(msg.get("Auto-Submitted", "")),
            "text": text.get_content() if text else "",
            "html": html.get_content() if html else "",
        })
        return "250 2.0.0 queued as test"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    port = free_port()
    controller = Controller(Handler(sys.argv[1]), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"ready {port}", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
