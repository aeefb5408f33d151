//! Notice bodies: Markdown rendered to HTML, then cleaned by ammonia so that nothing a
//! sender writes can run script or restyle the page.

use pulldown_cmark::{Options, Parser, html};

/// Safe HTML for a Markdown body.
pub fn render(source: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TASKLISTS);
    let mut unsafe_html = String::with_capacity(source.len() * 3 / 2);
    html::push_html(&mut unsafe_html, Parser::new_ext(source, options));
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer nofollow"))
        .url_schemes(["http", "https", "mailto", "tel"].into_iter().collect())
        .clean(&unsafe_html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_html_and_script_never_survives() {
        let source = "**Signal No. 8**\n\n- close at 13:30\n\n<script>alert(1)</script>\n\n\
                      <img src=x onerror=alert(1)>\n\n[x](javascript:alert(1)) and [ok](https://example.com)\n";
        let out = render(source);
        assert!(out.contains("<strong>Signal No. 8</strong>"), "{out}");
        assert!(out.contains("<li>close at 13:30</li>"), "{out}");
        assert!(!out.contains("<script"), "{out}");
        assert!(!out.contains("onerror"), "{out}");
        assert!(!out.contains("href=\"javascript"), "{out}");
        assert!(out.contains("href=\"https://example.com\""), "{out}");
    }
}
