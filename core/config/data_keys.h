// The words the config's data section accepts: data.format and the keys of
// data.columns and data.tags. In config/ because validation reads them; data/ implements each.
#pragma once
#include <string>
#include <vector>

namespace ps {

// The column and tag keys DataOptions accepts (for config validation and --help).
const std::vector<std::string>& data_column_keys();
const std::vector<std::string>& data_tag_keys();
const std::vector<std::string>& data_format_names();

}  // namespace ps
