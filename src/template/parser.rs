//! Tokenizer and recursive-descent parser of placeholder expressions into a small AST. Nothing here runs
//! code: the AST can only express literals, `+`, lists, `{ key: value }` option objects and calls of names
//! the evaluator knows.

/// A parsed placeholder expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Text(String),
    Number(f64),
    List(Vec<Expr>),
    /// `{ min: 1, max: 9 }`: the options object of `faker.datatype.number`.
    Options(Vec<(String, Expr)>),
    Add(Box<Expr>, Box<Expr>),
    Negate(Box<Expr>),
    /// A call of a dotted name, e.g. `faker.internet.ip()`.
    Call {
        name: String,
        args: Vec<Expr>,
    },
}

/// Why an expression does not parse; `column` counts characters from 1 inside the expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at column {column}")]
pub struct ParseError {
    pub column: usize,
    pub message: String,
}

/// Deeper nesting than this is refused rather than risking the stack on hostile input.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Text(String),
    Number(f64),
    Name(String),
    Dot,
    Comma,
    Colon,
    Plus,
    Minus,
    OpenParen,
    CloseParen,
    OpenBracket,
    CloseBracket,
    OpenBrace,
    CloseBrace,
}

fn describe(token: Option<&Token>) -> String {
    match token {
        None => "the end of the expression".into(),
        Some(Token::Text(text)) => format!("the text {text:?}"),
        Some(Token::Number(number)) => format!("the number {number}"),
        Some(Token::Name(name)) => format!("the name `{name}`"),
        Some(Token::Dot) => "`.`".into(),
        Some(Token::Comma) => "`,`".into(),
        Some(Token::Colon) => "`:`".into(),
        Some(Token::Plus) => "`+`".into(),
        Some(Token::Minus) => "`-`".into(),
        Some(Token::OpenParen) => "`(`".into(),
        Some(Token::CloseParen) => "`)`".into(),
        Some(Token::OpenBracket) => "`[`".into(),
        Some(Token::CloseBracket) => "`]`".into(),
        Some(Token::OpenBrace) => "`{`".into(),
        Some(Token::CloseBrace) => "`}`".into(),
    }
}

/// Splits an expression into tokens with their 1-based columns.
fn tokenize(source: &str) -> Result<Vec<(Token, usize)>, ParseError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut position = 0;
    while position < chars.len() {
        let column = position + 1;
        let current = chars[position];
        let single = match current {
            '.' if !chars.get(position + 1).is_some_and(char::is_ascii_digit) => Some(Token::Dot),
            ',' => Some(Token::Comma),
            ':' => Some(Token::Colon),
            '+' => Some(Token::Plus),
            '-' => Some(Token::Minus),
            '(' => Some(Token::OpenParen),
            ')' => Some(Token::CloseParen),
            '[' => Some(Token::OpenBracket),
            ']' => Some(Token::CloseBracket),
            '{' => Some(Token::OpenBrace),
            '}' => Some(Token::CloseBrace),
            _ => None,
        };
        if let Some(token) = single {
            tokens.push((token, column));
            position += 1;
            continue;
        }
        if current.is_whitespace() {
            position += 1;
        } else if current == '\'' || current == '"' || (current == '\\' && matches!(chars.get(position + 1), Some('"')))
        {
            let (text, next) = read_text(&chars, position)?;
            tokens.push((Token::Text(text), column));
            position = next;
        } else if current.is_ascii_digit() || current == '.' {
            let start = position;
            while position < chars.len() && (chars[position].is_ascii_digit() || chars[position] == '.') {
                position += 1;
            }
            let literal: String = chars[start..position].iter().collect();
            let number = literal
                .parse::<f64>()
                .map_err(|_| ParseError { column, message: format!("`{literal}` is not a number") })?;
            tokens.push((Token::Number(number), column));
        } else if current.is_ascii_alphabetic() || current == '_' || current == '$' {
            let start = position;
            while position < chars.len()
                && (chars[position].is_ascii_alphanumeric() || chars[position] == '_' || chars[position] == '$')
            {
                position += 1;
            }
            tokens.push((Token::Name(chars[start..position].iter().collect()), column));
        } else {
            return Err(ParseError { column, message: format!("unexpected character {current:?}") });
        }
    }
    Ok(tokens)
}

/// Reads a quoted literal starting at `start`. Double quotes may arrive JSON-escaped (`\"`) when a file's
/// author escaped them twice; a literal opened with `\"` ends at the next `\"` (or plain `"`).
fn read_text(chars: &[char], start: usize) -> Result<(String, usize), ParseError> {
    let escaped_opening = chars[start] == '\\';
    let (quote, mut position) = if escaped_opening { ('"', start + 2) } else { (chars[start], start + 1) };
    let mut text = String::new();
    while position < chars.len() {
        let current = chars[position];
        if current == quote {
            return Ok((text, position + 1));
        }
        if current == '\\' {
            match chars.get(position + 1) {
                Some('"') if escaped_opening => return Ok((text, position + 2)),
                Some('n') => text.push('\n'),
                Some('t') => text.push('\t'),
                Some(&next) => text.push(next),
                None => break,
            }
            position += 2;
            continue;
        }
        text.push(current);
        position += 1;
    }
    Err(ParseError { column: start + 1, message: format!("text starting with {quote} is never closed") })
}

/// Parses one placeholder expression.
pub fn parse_expression(source: &str) -> Result<Expr, ParseError> {
    let tokens = tokenize(source)?;
    let end_column = source.chars().count() + 1;
    let mut parser = Parser { tokens, position: 0, end_column };
    if parser.tokens.is_empty() {
        return Err(ParseError { column: 1, message: "the placeholder is empty".into() });
    }
    let expr = parser.sum(0)?;
    if parser.position < parser.tokens.len() {
        return Err(parser.unexpected("`+` or the end of the expression"));
    }
    Ok(expr)
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    position: usize,
    end_column: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position).map(|(token, _)| token)
    }

    fn column(&self) -> usize {
        self.tokens.get(self.position).map_or(self.end_column, |(_, column)| *column)
    }

    fn unexpected(&self, wanted: &str) -> ParseError {
        ParseError { column: self.column(), message: format!("expected {wanted}, found {}", describe(self.peek())) }
    }

    fn expect(&mut self, token: Token, wanted: &str) -> Result<(), ParseError> {
        if self.peek() == Some(&token) {
            self.position += 1;
            Ok(())
        } else {
            Err(self.unexpected(wanted))
        }
    }

    fn check_depth(&self, depth: usize) -> Result<(), ParseError> {
        if depth > MAX_DEPTH {
            return Err(ParseError { column: self.column(), message: format!("nesting deeper than {MAX_DEPTH}") });
        }
        Ok(())
    }

    fn sum(&mut self, depth: usize) -> Result<Expr, ParseError> {
        self.check_depth(depth)?;
        let mut left = self.unary(depth + 1)?;
        while self.peek() == Some(&Token::Plus) {
            self.position += 1;
            let right = self.unary(depth + 1)?;
            left = Expr::Add(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, ParseError> {
        self.check_depth(depth)?;
        if self.peek() == Some(&Token::Minus) {
            self.position += 1;
            return Ok(Expr::Negate(Box::new(self.unary(depth + 1)?)));
        }
        self.primary(depth + 1)
    }

    fn primary(&mut self, depth: usize) -> Result<Expr, ParseError> {
        self.check_depth(depth)?;
        match self.peek().cloned() {
            Some(Token::Text(text)) => {
                self.position += 1;
                Ok(Expr::Text(text))
            }
            Some(Token::Number(number)) => {
                self.position += 1;
                Ok(Expr::Number(number))
            }
            Some(Token::OpenParen) => {
                self.position += 1;
                let inner = self.sum(depth + 1)?;
                self.expect(Token::CloseParen, "`)`")?;
                Ok(inner)
            }
            Some(Token::OpenBracket) => {
                self.position += 1;
                let items = self.list_items(Token::CloseBracket, "`,` or `]`", depth)?;
                Ok(Expr::List(items))
            }
            Some(Token::OpenBrace) => self.options(depth),
            Some(Token::Name(_)) => self.call(),
            _ => Err(self.unexpected("a text in quotes, a number, `(`, `[` or a function call")),
        }
    }

    fn list_items(&mut self, close: Token, wanted: &str, depth: usize) -> Result<Vec<Expr>, ParseError> {
        let mut items = Vec::new();
        loop {
            if self.peek() == Some(&close) {
                self.position += 1;
                return Ok(items);
            }
            items.push(self.sum(depth + 1)?);
            match self.peek() {
                Some(Token::Comma) => self.position += 1,
                Some(token) if *token == close => {}
                _ => return Err(self.unexpected(wanted)),
            }
        }
    }

    fn options(&mut self, depth: usize) -> Result<Expr, ParseError> {
        self.position += 1; // `{`
        let mut entries = Vec::new();
        loop {
            let key = match self.peek().cloned() {
                Some(Token::CloseBrace) => {
                    self.position += 1;
                    return Ok(Expr::Options(entries));
                }
                Some(Token::Name(name)) | Some(Token::Text(name)) => name,
                _ => return Err(self.unexpected("an option name or `}`")),
            };
            self.position += 1;
            self.expect(Token::Colon, "`:` after the option name")?;
            entries.push((key, self.sum(depth + 1)?));
            match self.peek() {
                Some(Token::Comma) => self.position += 1,
                Some(Token::CloseBrace) => {}
                _ => return Err(self.unexpected("`,` or `}`")),
            }
        }
    }

    fn call(&mut self) -> Result<Expr, ParseError> {
        let mut name = String::new();
        loop {
            match self.peek().cloned() {
                Some(Token::Name(part)) => {
                    self.position += 1;
                    name.push_str(&part);
                }
                _ => return Err(self.unexpected("a name after `.`")),
            }
            if self.peek() == Some(&Token::Dot) {
                self.position += 1;
                name.push('.');
            } else {
                break;
            }
        }
        if self.peek() != Some(&Token::OpenParen) {
            return Err(ParseError {
                column: self.column(),
                message: format!("`{name}` is not a function call; write `{name}()`, or quote text"),
            });
        }
        self.position += 1;
        let args = self.list_items(Token::CloseParen, "`,` or `)`", 0)?;
        Ok(Expr::Call { name, args })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: Vec<Expr>) -> Expr {
        Expr::Call { name: name.into(), args }
    }

    #[test]
    fn parses_the_forms_of_the_old_tool() {
        assert_eq!(parse_expression("faker.datatype.uuid()"), Ok(call("faker.datatype.uuid", vec![])));
        assert_eq!(
            parse_expression("timestamp(-1800, -60)"),
            Ok(call(
                "timestamp",
                vec![Expr::Negate(Box::new(Expr::Number(1800.0))), Expr::Negate(Box::new(Expr::Number(60.0)))]
            ))
        );
        assert_eq!(
            parse_expression("'pay-api-' + faker.datatype.number({ min: 10, max: 99 })"),
            Ok(Expr::Add(
                Box::new(Expr::Text("pay-api-".into())),
                Box::new(call(
                    "faker.datatype.number",
                    vec![Expr::Options(vec![("min".into(), Expr::Number(10.0)), ("max".into(), Expr::Number(99.0))])]
                ))
            ))
        );
        assert_eq!(
            parse_expression(r#"faker.helpers.arrayElement(["a", 'b']) + \"-cluster\""#),
            Ok(Expr::Add(
                Box::new(call(
                    "faker.helpers.arrayElement",
                    vec![Expr::List(vec![Expr::Text("a".into()), Expr::Text("b".into())])]
                )),
                Box::new(Expr::Text("-cluster".into()))
            ))
        );
        assert_eq!(
            parse_expression("('a' + (1))"),
            Ok(Expr::Add(Box::new(Expr::Text("a".into())), Box::new(Expr::Number(1.0))))
        );
        assert_eq!(parse_expression("'it\\'s'"), Ok(Expr::Text("it's".into())));
    }

    #[test]
    fn errors_say_what_and_where() {
        let error = parse_expression("faker.internet.ip(").unwrap_err();
        assert_eq!(error.column, 19);
        assert!(error.message.contains("end of the expression"), "{error}");
        let error = parse_expression("process.exit").unwrap_err();
        assert!(error.message.contains("not a function call"), "{error}");
        assert!(parse_expression("").unwrap_err().message.contains("empty"));
        assert!(parse_expression("'open").unwrap_err().message.contains("never closed"));
        assert!(parse_expression("1 2").unwrap_err().message.contains("expected `+`"));
        assert!(parse_expression("a;b()").unwrap_err().message.contains("unexpected character ';'"));
        let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
        assert!(parse_expression(&deep).unwrap_err().message.contains("nesting"));
    }
}
