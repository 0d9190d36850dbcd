#include "model_check.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>
#include <vector>

namespace xgrad::dist {

namespace {

// One line per tensor: kind, name, then "dtype shape", tab-separated. Names never hold tabs or newlines.
struct Entry {
  std::string kind, name, type;
};

std::string describe(const nn::Module& model) {
  std::string out;
  auto add = [&](const char* kind, const nn::NamedTensor& t) {
    out += fmt::format("{}\t{}\t{} {}\n", kind, t.first, dtype_name(t.second.dtype()), shape_str(t.second.shape()));
  };
  for (const auto& p : model.named_parameters()) add(p.second.requires_grad() ? "parameter" : "frozen parameter", p);
  for (const auto& b : model.named_buffers()) add("buffer", b);
  return out;
}

std::vector<Entry> parse(const std::string& text) {
  std::vector<Entry> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const auto a = line.find('\t'), b = line.find('\t', a + 1);
    out.push_back({line.substr(0, a), line.substr(a + 1, b - a - 1), line.substr(b + 1)});
  }
  return out;
}

// The first difference between this rank's entries and rank 0's, in words; empty when there is none.
std::string first_difference(const std::vector<Entry>& mine, const std::vector<Entry>& root, int rank) {
  auto find = [](const std::vector<Entry>& list, const std::string& name) {
    return std::find_if(list.begin(), list.end(), [&](const Entry& e) { return e.name == name; });
  };
  for (std::size_t i = 0; i < std::max(mine.size(), root.size()); ++i) {
    if (i < mine.size() && i < root.size() && mine[i].kind == root[i].kind && mine[i].name == root[i].name &&
        mine[i].type == root[i].type)
      continue;
    if (i < mine.size() && i < root.size() && mine[i].name == root[i].name)
      return fmt::format("'{}' is {} {} on rank {} but {} {} on rank 0", mine[i].name, mine[i].kind, mine[i].type, rank,
                         root[i].kind, root[i].type);
    if (i < mine.size() && find(root, mine[i].name) == root.end())
      return fmt::format("rank {} has {} '{}' ({}) that rank 0 lacks", rank, mine[i].kind, mine[i].name, mine[i].type);
    if (i < root.size() && find(mine, root[i].name) == mine.end())
      return fmt::format("rank {} lacks {} '{}' ({}) that rank 0 has", rank, root[i].kind, root[i].name, root[i].type);
    return fmt::format("the tensors are registered in another order: number {} is '{}' on rank {} but '{}' on rank 0",
                       i, mine[i].name, rank, root[i].name);
  }
  return {};
}

}  // namespace

void check_same_model(const nn::Module& model, const Communicator& comm, const char* who) {
  const std::string mine = describe(model);
  const std::string root = comm.broadcast(mine, 0);
  const std::string difference = mine == root ? std::string() : first_difference(parse(mine), parse(root), comm.rank());
  // The lowest rank that differs explains it to everyone, so every rank throws the same message.
  const std::int64_t flag = comm.allreduce_max(difference.empty() ? 0 : comm.size() - comm.rank());
  if (flag == 0) return;
  const int reporter = comm.size() - static_cast<int>(flag);
  throw ValueError(fmt::format("{}: the model differs between ranks: {}; every rank must build the same model",
                               who, comm.broadcast(difference, reporter)));
}

}  // namespace xgrad::dist
