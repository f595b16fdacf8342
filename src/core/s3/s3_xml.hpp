// Internals of the S3 client shared with the credential providers: libcurl and
// libxml2 set up once per process, XML responses read by element name, and text from
// an endpoint made safe to put in a message.
#pragma once
#include <cstring>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string>

namespace pgbk::s3::detail {

// curl_global_init and xmlInitParser, once per process (before any thread uses them).
void GlobalInit();

// Text from a store or endpoint, shown in messages: printable, and at most 200
// characters (then "...").
std::string Shown(const std::string &text);

// A parsed XML response; finds elements by local name anywhere below the root.
class XmlDoc {
public:
	explicit XmlDoc(const std::string &text)
	{
		if (!text.empty())
			doc_ = xmlReadMemory(text.data(), static_cast<int>(text.size()), "s3.xml", nullptr,
								 XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	}
	~XmlDoc() { xmlFreeDoc(doc_); }
	XmlDoc(const XmlDoc &) = delete;
	XmlDoc &operator=(const XmlDoc &) = delete;
	xmlNode *
	Root() const
	{
		return doc_ ? xmlDocGetRootElement(doc_) : nullptr;
	}

	static std::string
	Text(xmlNode *n)
	{
		if (n == nullptr)
			return "";
		xmlChar *c = xmlNodeGetContent(n);
		std::string s = c ? reinterpret_cast<const char *>(c) : "";
		xmlFree(c);
		return s;
	}
	static xmlNode *
	Child(xmlNode *parent, const char *name)
	{
		for (xmlNode *c = parent ? parent->children : nullptr; c; c = c->next)
			if (c->type == XML_ELEMENT_NODE && std::strcmp(reinterpret_cast<const char *>(c->name), name) == 0)
				return c;
		return nullptr;
	}
	static std::string
	ChildText(xmlNode *parent, const char *name)
	{
		return Text(Child(parent, name));
	}
	template <typename F>
	static void
	ForEachChild(xmlNode *parent, const char *name, F fn)
	{
		for (xmlNode *c = parent ? parent->children : nullptr; c; c = c->next)
			if (c->type == XML_ELEMENT_NODE && std::strcmp(reinterpret_cast<const char *>(c->name), name) == 0)
				fn(c);
	}

private:
	xmlDoc *doc_ = nullptr;
};

} // namespace pgbk::s3::detail
