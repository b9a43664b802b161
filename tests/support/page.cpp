#include "support/page.h"

#include <array>
#include <stdexcept>
#include <utility>

namespace ftl::testing {
namespace {

// The text between `open` and `close` at or after `from`; "" when absent.
std::string between(const std::string& text, const std::string& open, const std::string& close,
                    std::size_t from = 0) {
  const std::size_t start = text.find(open, from);
  if (start == std::string::npos) return "";
  const std::size_t end = text.find(close, start + open.size());
  if (end == std::string::npos) return "";
  return text.substr(start + open.size(), end - start - open.size());
}

std::string without_tags(const std::string& html) {
  std::string text;
  bool in_tag = false;
  for (const char c : html) {
    if (c == '<') in_tag = true;
    const bool repeated_space = c == ' ' && !text.empty() && text.back() == ' ';
    if (!in_tag && !repeated_space) text += c;
    if (c == '>') {
      if (in_tag && !text.empty() && text.back() != ' ') text += ' ';
      in_tag = false;
    }
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return xml_unescape(text);
}

}  // namespace

std::size_t occurrences(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

std::string base64_decode(const std::string& text) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes;
  unsigned bits = 0;
  int held = 0;
  for (const char c : text) {
    if (c == '=') break;
    const std::size_t value = alphabet.find(c);
    if (value == std::string::npos)
      throw std::invalid_argument("not base64: " + text.substr(0, 20));
    bits = (bits << 6) | static_cast<unsigned>(value);
    held += 6;
    if (held >= 8) {
      held -= 8;
      bytes += static_cast<char>((bits >> held) & 0xFFU);
    }
  }
  return bytes;
}

std::string xml_unescape(const std::string& text) {
  const std::array<std::pair<std::string, std::string>, 5> entities = {
      {{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&amp;", "&"}}};
  std::string out = text;
  for (const auto& [entity, character] : entities) {
    for (std::size_t at; (at = out.find(entity)) != std::string::npos;) {
      out.replace(at, entity.size(), character);
    }
  }
  return out;
}

std::vector<PageShot> page_shots(const std::string& html) {
  std::vector<PageShot> shots;
  const std::string open = "<figure class=\"shot\">";
  for (std::size_t at = html.find(open); at != std::string::npos; at = html.find(open, at + 1)) {
    const std::string figure = between(html, open, "</figure>", at);
    PageShot shot;
    shot.path = xml_unescape(between(figure, "title=\"", "\""));
    shot.caption = without_tags(between(figure, "<figcaption>", "</figcaption>"));
    const std::string png = base64_decode(between(figure, "src=\"data:image/png;base64,", "\""));
    if (!png.empty()) {
      shot.image = decode_image(reinterpret_cast<const std::uint8_t*>(png.data()), png.size());
    }
    shots.push_back(std::move(shot));
  }
  return shots;
}

}  // namespace ftl::testing
