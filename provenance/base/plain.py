"""What a failed check means, in one plain sentence (issue 19: "words a person understands").

``prov verify`` prints each FAIL as this sentence first, then the check id, the subject and
the technical message: an auditor reads what happened ("the archived page http://… was
altered after it was sealed") before how it was found. The sentence is derived from the
finding (its check id, its subject, the URL its message names), so the JSON report
(``prov/verify-report/v1``, an interface) is unchanged. Threat: subject and message come
from the target; the table prints the sentence through ``printable`` like every name.
"""

from __future__ import annotations

import re

from provenance.base.ids import CAPTURE_DAY, CAPTURE_ID
from provenance.base.report import Finding

_CAPTURE = re.compile(rf"{CAPTURE_DAY}/({CAPTURE_ID})")
_EXCHANGE = re.compile(r"\((request|response|revisit|resource|metadata) for (\S+?)\)$")
_URL = re.compile(r"https?://[^\s,;)]+")
_HELD = re.compile(r"it held (.+?)(?: \(|$)")

_UNANCHORED = "no trust anchor"  # entryjudge.judge_anchor: the verifier holds no anchor at all
# check id -> the sentence; {what} is the thing the subject is (see _what)
_SENTENCES: dict[str, str] = {
    "file.digest": "{what} was altered after it was {sealed}",
    "file.missing": "{what} was deleted (the custody log names it)",
    "file.symlink": "{what} was replaced by a link to somewhere else",
    "file.type": "{what} is not an ordinary file any more",
    "capture.missing": "a capture was deleted{held}",
    "capture.unexpected": "something was added to a capture that its seal does not name",
    "capture.unsealed": "a capture folder was added that nobody sealed",
    "capture.unlogged": "a capture folder was added that is neither logged nor validly sealed",
    "seal.signature": "the seal of {capture} is not signed by a key the case trusts "
                      "(forged or altered)",
    "seal.recordsRoot": "the archived records of {capture} were altered, added or removed "
                        "after they were sealed",
    "seal.records": "the archived records of {capture} are not those its seal counts",
    "seal.binding": "the seal in {capture}'s folder belongs to another capture (evidence moved)",
    "seal.case": "{capture} was sealed for another case (evidence moved between cases)",
    "log.missing": "the custody log is missing",
    "log.length": "entries were removed from the end of the custody log",
    "log.prev": "the custody log's earlier history was rewritten",
    "log.order": "entries of the custody log were reordered or rewritten",
    "log.seq": "entries of the custody log were removed, repeated or reordered",
    "log.init": "the custody log does not start as a case's log must (its founding entry)",
    "log.key": "the custody log trusts a key in an entry that cannot be read",
    "log.actor": "an entry of the custody log names someone other than its signer",
    "log.entry": "an entry of the custody log is not signed by a key the log trusts "
                 "(forged or altered)",
    "trust.anchor": "the case was founded by a key other than the one you said to trust",
    "history.rollback": "the custody log is shorter than when you verified it before: "
                        "entries were removed",
    "history.fork": "the custody log differs from the one you verified before: its history "
                    "was rewritten",
    "history.origin": "the checkpoint you gave is of another case's log",
    "case.file": "the case's identity file (case.json) is damaged or missing",
    "certs.chain": "a stored certificate chain was altered or added",
    "custody.accepted": "a custody acceptance does not match any transfer",
    "revisit.original": "a deduplicated record points to an original that is not in the "
                        "evidence",
    "revisit.digest": "a deduplicated record does not match the original it points to",
    "revisit.decoded": "a deduplicated record does not match the original it points to",
    "warc.format": "{what} is damaged: it can no longer be read as a WARC file",
    "warc.noDigests": "{what} carries no digests, so none of it can be checked",
    "proof": "the inclusion proof does not prove what it claims",
}
# a check's first part -> the sentence when the check has none of its own
_FAMILIES: dict[str, str] = {
    "record": "{what} was altered after it was {sealed}",
    "checkpoint": "a signed checkpoint of the custody log is missing, altered or out of place",
    "cosignature": "a cosignature beside a checkpoint does not verify",
    "timestamp": "a time-stamp token is missing, altered or does not vouch for what it should",
    "wacz": "the WACZ package was altered or is incomplete",
    "bag": "the bag was altered or is incomplete",
    "disclosure": "the disclosure package was altered or is incomplete",
    "s3": "the bucket holds evidence that was replaced, hidden or added",
    "layout": "something was added to the case that prov never writes",
}


def what_happened(finding: Finding) -> str:
    """One sentence, capitalised and with a full stop, saying what the failure means."""
    family = finding.check.split(".", 1)[0]
    template = _SENTENCES.get(finding.check) or _FAMILIES.get(family)
    if finding.check == "trust.anchor" and finding.message.startswith(_UNANCHORED):
        template = ("nothing you trust vouches for this evidence: no key you trust was given "
                    "to check who founded it, and anyone can found and sign a case")
    elif finding.check == "trust.anchor" and "nothing in it could be checked" in (
            finding.message):
        template = "nothing in the proof could be checked: it carries no signature you can verify"
    if template is None:
        return f"A check of the evidence failed ({finding.check})."
    capture = _CAPTURE.search(finding.subject)
    held = _HELD.search(finding.message)
    if capture:
        sealed = "sealed"
    elif family == "record":
        sealed = "archived"  # a WARC from any tool (verify-warc): nothing sealed it
    else:
        sealed = "recorded in the custody log"
    sentence = template.format(
        what=_what(finding), held=f" that held {held[1]}" if held else "", sealed=sealed,
        capture=f"capture {capture[1]}" if capture else "a capture")
    return sentence[0].upper() + sentence[1:] + "."


def _what(finding: Finding) -> str:
    """The thing the finding is about, as a reader would name it."""
    exchange = _EXCHANGE.search(finding.message)
    if exchange:
        kind, url = exchange.groups()
        return {"response": f"the archived page {url}", "revisit": f"the archived page {url}",
                "request": f"the recorded request for {url}",
                "resource": f"the archived {_resource(url)}",
                "metadata": f"the recorded facts of the fetch of {url}"}[kind]
    subject = finding.subject.split(" ", 1)[0]
    capture = _CAPTURE.search(subject)
    name = subject.rsplit("/", 1)[-1]
    if capture and name.endswith((".warc", ".warc.gz")):
        return f"archive file {name} of capture {capture[1]}"
    if capture and name == "seal.dsse.json":
        return f"the seal of capture {capture[1]}"
    if capture and name.endswith(".tsr"):
        return f"a time-stamp token of capture {capture[1]}"
    if capture and name == "index.cdxj":
        return f"the URL index of capture {capture[1]}"
    if subject == "case.json":
        return "the case's identity file (case.json)"
    if subject.startswith("custody/checkpoints/"):
        return f"the signed checkpoint {name}"
    if url := _URL.search(finding.message):
        return f"the record of {url[0]}"
    return f"the file {subject}"


def _resource(uri: str) -> str:
    for prefix, thing in (("urn:fullPage:", "full-page screenshot of "),
                          ("urn:view:", "screenshot of "), ("urn:dom:", "page (DOM) "),
                          ("urn:fullPageBanner:", "screenshot of ")):
        if uri.startswith(prefix):
            return thing + uri[len(prefix):]
    return uri
