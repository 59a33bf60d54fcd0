/* lockbox: escape (being written; see include/lockbox/). */
