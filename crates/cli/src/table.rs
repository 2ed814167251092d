//! The two-column `NAME  DESCRIPTION` listing shared by `profile list` and `preset list`
//! (their `--json` forms carry the full records).

/// Prints `rows` under a `NAME  DESCRIPTION` header, names padded to the widest.
pub fn print_names<'a>(rows: impl Iterator<Item = (&'a str, &'a str)> + Clone) {
    let width = rows
        .clone()
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0)
        .max(4);
    println!("{:width$}  DESCRIPTION", "NAME");
    for (name, description) in rows {
        println!("{name:width$}  {description}");
    }
}
