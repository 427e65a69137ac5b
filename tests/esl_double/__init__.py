"""A strict FreeSWITCH 1.10.12 Event Socket double, written from
/work/shared/notes/esl-protocol.md and checked against the recordings in
tests/fixtures/esl/ (see README.md there).

- transcript.py: reads the recordings (*.txt transcripts, *.bin raw bytes).
- engine.py: FreeSWITCH's side of one connection, inbound (port 8021) and outbound
  (FreeSWITCH connecting to pbxctl's socket service): the protocol state machine and
  the framing, with the content (api bodies, events) supplied by the caller.
- recorded.py: event templates taken from the recordings, so every event the double
  invents has a recorded event's headers, in the recorded order.
- pbx.py: the scenario layer: calls that run the generated pbxctl dialplan, connect to
  the outbound socket service, take DTMF, and end somewhere; queue calls whose
  mod_callcenter events follow the recorded sequences.
"""
