//! Expressions compute; they never assign.
//!
//! Rhai's expression mode refuses statements at the top, but still parses assignments inside a
//! string's `${…}`, an `if`'s blocks and a closure's body. Assigning to a member of `vars`,
//! `params` or a shared input that is not there yet *adds* it, past their read-only marks (which
//! guard only the values already inside), so the compiler refuses every assignment: `vars`
//! changes only through nodes, where its limits and its record of writes hold.

use rhai::{AST, ASTNode, Position, Stmt};

/// Where the first assignment in `ast` (its closures included) is, if there is one.
pub(crate) fn first_assignment(ast: &AST) -> Option<Position> {
    let mut found = None;
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Stmt(Stmt::Assignment(assignment))) = path.last() {
            found = Some(assignment.0.position());
        }
        found.is_none()
    });
    found
}
