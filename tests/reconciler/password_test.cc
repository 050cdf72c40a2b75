// Password keeps its bytes in memory no longer than it lives, and is never copied by accident.
#include "reconciler/password.h"

#include <gtest/gtest.h>

#include <new>
#include <string>
#include <type_traits>

#include "reconciler/registry_api.h"
#include "reconciler/secret_sink.h"

namespace crtoken {
namespace {

// Copies are explicit (Clone), so neither a Password nor what carries one is copied silently.
static_assert(!std::is_copy_constructible_v<Password>);
static_assert(!std::is_copy_assignable_v<Password>);
static_assert(std::is_nothrow_move_constructible_v<Password>);
static_assert(!std::is_copy_constructible_v<DockerCredential>);
static_assert(!std::is_copy_constructible_v<CreatedToken>);

bool AllZero(const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

// A short password lives inside the string object itself: moving it copies the bytes, and the old
// place must not keep them.
TEST(PasswordTest, AMovedFromPasswordKeepsNoCopyOfAShortPassword) {
  Password from(std::string("pw-short"));
  const char* old_bytes = from.Reveal().data();
  Password to(std::move(from));
  EXPECT_EQ(to.Reveal(), "pw-short");
  EXPECT_TRUE(from.empty());  // NOLINT(bugprone-use-after-move): what is left is the point
  EXPECT_TRUE(AllZero(old_bytes, 8));

  Password assigned;
  Password source(std::string("pw-other"));
  const char* source_bytes = source.Reveal().data();
  assigned = std::move(source);
  EXPECT_EQ(assigned.Reveal(), "pw-other");
  EXPECT_TRUE(AllZero(source_bytes, 8));
}

// Assigning over a password wipes the one it replaces (a long one: on the heap).
TEST(PasswordTest, AssigningOverAPasswordWipesTheOldOne) {
  const std::string long_value(100, 'x');
  Password target(long_value);
  // libstdc++'s move-assignment hands the target's old heap buffer to the source, which keeps it
  // alive to be looked at.
  Password source(std::string(100, 'y'));
  const char* old_target_bytes = target.Reveal().data();
  target = std::move(source);
  EXPECT_EQ(target.Reveal(), std::string(100, 'y'));
  EXPECT_TRUE(AllZero(old_target_bytes, 100));
}

// Destruction zeroes the buffer: seen in the storage of a short password after its destructor.
TEST(PasswordTest, DestructionWipesTheBytes) {
  alignas(Password) unsigned char storage[sizeof(Password)];
  Password* p = new (storage) Password(std::string("pw-gone"));
  const char* bytes = p->Reveal().data();
  ASSERT_GE(bytes, reinterpret_cast<const char*>(storage));
  ASSERT_LT(bytes, reinterpret_cast<const char*>(storage + sizeof(storage)));
  p->~Password();
  EXPECT_TRUE(AllZero(bytes, 7));
}

TEST(PasswordTest, TheStringItIsMadeFromKeepsNoCopy) {
  std::string value("pw-from-string");
  const char* bytes = value.data();
  Password p(std::move(value));
  EXPECT_EQ(p.Reveal(), "pw-from-string");
  EXPECT_TRUE(AllZero(bytes, 14));
}

TEST(PasswordTest, CloneIsAnEqualIndependentCopy) {
  Password a(std::string("pw-1"));
  Password b = a.Clone();
  EXPECT_EQ(b.Reveal(), "pw-1");
  EXPECT_NE(a.Reveal().data(), b.Reveal().data());
  a = Password();
  EXPECT_EQ(b.Reveal(), "pw-1");
  EXPECT_TRUE(a.empty());
}

}  // namespace
}  // namespace crtoken
