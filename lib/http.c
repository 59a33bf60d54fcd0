/* lockbox: http (being written; see include/lockbox/). */
