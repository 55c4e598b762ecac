# Splices into the upgrade prelude (read last, as "-") the header of every CREATE FUNCTION / PROCEDURE statement of
# the install script's sources (the files before it): the statement up to its body (AS $..$, AS '..', BEGIN ATOMIC or
# RETURN), each followed by a line holding only ";", in place of the line @ROUTINE_HEADERS@. Only statements at
# the start of a line count: a function created by dynamic SQL is not seen, and an upgrade then treats it as gone.
# Postgres, not this script, reads the headers: see upgrade/prelude.sql.
FILENAME != "-" && /^CREATE (OR REPLACE )?(FUNCTION|PROCEDURE) / { header = ""; inside = 1 }
FILENAME != "-" {
    if (inside) {
        header = header $0 "\n"
        if (match(header, /[ \t\n](AS[ \t\n]+[$']|BEGIN[ \t\n]+ATOMIC|RETURN[ \t\n])/)) {
            headers = headers substr(header, 1, RSTART - 1) "\n;\n"
            count++
            inside = 0
        }
    }
    next
}
$0 == "@ROUTINE_HEADERS@" {
    if (!count) { print "routine_headers.awk: no CREATE FUNCTION in the sources" > "/dev/stderr"; exit 1 }
    printf "%s", headers
    next
}
{ print }
