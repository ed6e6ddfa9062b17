"""The registry's services: one module per job, each a set of functions over one shared
:class:`~evacops.registry.services.context.Context` (who acts, the database, the keys; the one
place where transactions, events and audit entries are written). The CLI and the web layer call
them through the facade :class:`evacops.registry.service.Registry`.

- :mod:`.context`: the shared context; transactions, events, audit, keys, common look-ups;
- :mod:`.setup`: log-in, users, operations, sites, flights;
- :mod:`.categories`: an operation's eligibility categories (add, retire, restore);
- :mod:`.registration`: registering people, one by one or a whole file;
- :mod:`.people`: a person as a role may see them, document look-up, corrections, merges;
- :mod:`.credentials`: issue, print again, revoke, the revocation list;
- :mod:`.movements`: scans (gate-in, board, deplane, ...), call-forward, departure, landing,
  reconciliation;
- :mod:`.manifests`: building and showing a flight's manifest;
- :mod:`.rollcall`: who should be at a site and is not;
- :mod:`.dedup`: finding likely duplicates, the review queue;
- :mod:`.reports`: counts and timelines, the audit log's check and entries;
- :mod:`.exports`: the manifest CSV and the HXL counts;
- :mod:`.shred`: destroying an operation's keys.
"""
