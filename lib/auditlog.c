/* lockbox: auditlog (being written; see include/lockbox/). */
