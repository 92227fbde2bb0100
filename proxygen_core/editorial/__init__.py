"""Editorial cuts: reading a cut (EDL, OTIO, FCP XML, AAF) into typed events, matching them to shots, and the
conform that shows each event with the version the cut should hold (docs/editorial.md)."""
